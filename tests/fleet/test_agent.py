"""`kimi-infra agent` against moto: S3 and SSM targets, several agents, `--once` (no gateway here:
tests/gateway runs real ones). What a deploy brings, what an unchanged poll costs, what is refused."""

from __future__ import annotations

import json
import stat

import boto3

from kimi_infra.content_hash import PLAIN
from tests.support.fleet import BUCKET, STACK, TARGETS, deploy, first_deploy, fleet_project, make_agent


def deployed_text(target: str) -> str:
    spec = next(t for t in TARGETS if t["name"] == target)
    if spec["kind"] == "s3":
        return boto3.client("s3", region_name="us-east-1").get_object(
            Bucket=BUCKET, Key=spec["key"])["Body"].read().decode()
    return boto3.client("ssm", region_name="us-east-1").get_parameter(Name=spec["parameter"])["Parameter"]["Value"]


def report(gateway_id: str, target: str = "bucket") -> dict:
    spec = next(t for t in TARGETS if t["name"] == target)
    if spec["kind"] == "s3":
        body = boto3.client("s3", region_name="us-east-1").get_object(
            Bucket=BUCKET, Key=f"{spec['key']}.fleet/reports/{gateway_id}.json")["Body"].read()
        return json.loads(body)
    name = f"{spec['parameter']}.fleet-reports/{gateway_id}"
    return json.loads(boto3.client("ssm", region_name="us-east-1").get_parameter(Name=name)["Parameter"]["Value"])


def test_a_deploy_reaches_every_agent_on_s3_and_ssm(aws, tmp_path, gateways):
    project = fleet_project(tmp_path / "project")
    first = first_deploy(project)
    agents = [make_agent(project, gateways, "gw-a"), make_agent(project, gateways, "gw-b"),
              make_agent(project, gateways, "gw-c", target="param")]

    assert [agent.once() for agent in agents] == [0, 0, 0]
    for agent in agents:
        assert agent.include.read_text() == deployed_text("bucket")
        assert PLAIN.of_bytes(agent.include.read_bytes()) == first
        assert stat.S_IMODE(agent.include.stat().st_mode) == 0o644  # reference mode: no key in it

    second = deploy(fleet_project(tmp_path / "project", context_window=200_000))
    assert second != first
    assert [agent.once() for agent in agents] == [0, 0, 0]
    for agent, target in zip(agents, ["bucket", "bucket", "param"], strict=True):
        assert PLAIN.of_bytes(agent.include.read_bytes()) == second
        got = report(agent.settings.gateway_id, target)
        assert got["configRevision"] == second and got["stack"] == STACK and got["lastError"] is None
        assert got["gatewayId"] == agent.settings.gateway_id and got["appliedAt"] and got["agentVersion"]
