"""Two doors, one core: `pulumi up` (the program under the mocked engine, its providers run for real
against moto) publishes the fleet facts as `deploy` does, so an agent takes a change either way."""

from __future__ import annotations

import json

import boto3

from kimi_infra.content_hash import PLAIN
from tests.program.harness import config_from_stack_file, run_program
from tests.support.fleet import BUCKET, KEYS, STACK, TARGETS, fleet_project, make_agent
from tests.support.moto import create_bucket


def up(project):
    config, _ = config_from_stack_file(project / "stacks" / f"Pulumi.{STACK}.yaml")
    config["kimi-infra:moonshotApiKey"] = KEYS["moonshot"]
    config["kimi-infra:kimicodeApiKey"] = KEYS["kimi-code"]
    return run_program(STACK, project, config, ["kimi-infra:moonshotApiKey", "kimi-infra:kimicodeApiKey"])


def test_pulumi_up_publishes_the_facts_and_agents_take_the_change(aws, tmp_path, gateways):
    create_bucket(BUCKET)
    project = fleet_project(tmp_path / "project")
    up(project)
    from kimi_infra.deploy import render_for_deploy
    from kimi_infra.stackfile import load_stack

    expected = render_for_deploy(load_stack(project, STACK).spec, project).content_hash
    s3_facts = json.loads(boto3.client("s3", region_name="us-east-1").get_object(
        Bucket=BUCKET, Key=f"{TARGETS[0]['key']}.fleet.json")["Body"].read())
    ssm_facts = json.loads(boto3.client("ssm", region_name="us-east-1").get_parameter(
        Name=f"{TARGETS[1]['parameter']}.fleet")["Parameter"]["Value"])
    assert s3_facts["configRevision"] == ssm_facts["configRevision"] == expected
    assert s3_facts["stack"] == STACK

    agents = [make_agent(project, gateways, "gw-s3"), make_agent(project, gateways, "gw-ssm", target="param")]
    assert [agent.once() for agent in agents] == [0, 0]
    assert all(PLAIN.of_bytes(agent.include.read_bytes()) == expected for agent in agents)
