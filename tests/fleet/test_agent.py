"""`kimi-infra agent` against moto: S3 and SSM targets, several agents, `--once` (no gateway here:
tests/gateway runs real ones). What a deploy brings, what an unchanged poll costs, what is refused."""

from __future__ import annotations

import json
import stat

import boto3
import pytest

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


def test_an_unchanged_poll_is_one_conditional_request_with_no_body_and_no_key(aws, tmp_path, gateways, aws_calls):
    project = fleet_project(tmp_path / "project", key_mode="inline")
    first_deploy(project)
    on_s3, on_ssm = make_agent(project, gateways, "gw-s3"), make_agent(project, gateways, "gw-ssm", target="param")
    assert on_s3.poll() and on_ssm.poll()
    aws_calls.clear()

    assert on_s3.poll() and on_ssm.poll()

    [s3_call, ssm_call] = aws_calls.answered
    assert (s3_call.service, s3_call.operation, s3_call.status) == ("s3", "GetObject", 304)
    assert s3_call.params["Key"].endswith(".fleet.json") and s3_call.params["IfNoneMatch"]
    assert "Body" not in s3_call.answer or not s3_call.answer["Body"]  # 304: nothing downloaded
    assert (ssm_call.service, ssm_call.operation) == ("ssm", "GetParameter")
    assert ssm_call.params["Name"].endswith(".fleet") and not ssm_call.params.get("WithDecryption")
    assert len(ssm_call.answer["Parameter"]["Value"]) < 1024  # the facts: version ids, not the config
    assert [service for service, _, _ in aws_calls.calls] == ["s3", "ssm"]  # no Secrets Manager call


def test_a_config_put_behind_our_back_is_refused_and_the_last_good_stays(aws, tmp_path, gateways):
    project = fleet_project(tmp_path / "project")
    good = first_deploy(project)
    agent = make_agent(project, gateways, "gw-a")
    assert agent.once() == 0
    before = agent.include.read_bytes()
    s3 = boto3.client("s3", region_name="us-east-1")
    key = TARGETS[0]["key"]
    facts = json.loads(s3.get_object(Bucket=BUCKET, Key=f"{key}.fleet.json")["Body"].read())

    # Invalid content, with its hash forged everywhere deploy publishes one: our model refuses it.
    invalid = '{ models: { mode: "merge", providers: { moonshot: { baseUrl: 42 } } } }'
    forged = PLAIN.of_text(invalid)
    s3.put_object(Bucket=BUCKET, Key=key, Body=invalid.encode(), Metadata={"kimi-infra-content-hash": forged})
    s3.put_object(Bucket=BUCKET, Key=f"{key}.fleet.json", Body=json.dumps({**facts, "configRevision": forged}))

    assert agent.once() == 1
    assert agent.include.read_bytes() == before
    got = report("gw-a")
    assert got["configRevision"] == good and "fails our checks" in got["lastError"]
    assert any("refused, the last good config stays" in line for line in agent.lines)

    # A valid config of another stack, its facts untouched: its hash is not the published revision.
    other = deployed_text("bucket").replace("131072", "65536")
    s3.put_object(Bucket=BUCKET, Key=key, Body=other.encode(), Metadata={"kimi-infra-content-hash": good})
    s3.put_object(Bucket=BUCKET, Key=f"{key}.fleet.json", Body=json.dumps(facts))
    fresh = make_agent(project, gateways, "gw-fresh")
    assert fresh.once() == 1
    assert not fresh.include.exists()
    assert "not the one `deploy` published" in report("gw-fresh")["lastError"]

    # Facts of another stack are refused as such.
    s3.put_object(Bucket=BUCKET, Key=f"{key}.fleet.json", Body=json.dumps({**facts, "stack": "prod"}))
    assert agent.once() == 1
    assert "belong to stack prod" in report("gw-a")["lastError"] and agent.include.read_bytes() == before


@pytest.mark.contract
def test_secretref_a_failed_reload_is_reported_and_retried_with_backoff(aws, tmp_path, gateways, openclaw,
                                                                         resolver_launcher, monkeypatch):
    from kimi_infra.ops.agent import backoff

    monkeypatch.setenv("OPENCLAW_STATE_DIR", str(tmp_path / "openclaw-state"))
    project = fleet_project(tmp_path / "project", key_mode="secretref",
                            resolver={"command": str(resolver_launcher)})
    revision = first_deploy(project)
    # The real CLI on a host whose gateway is down: `config validate` passes, `secrets reload` fails.
    agent = make_agent(project, gateways, "gw-down", openclaw=str(openclaw.launcher))

    assert agent.poll() is False
    assert agent.include.exists(), agent.lines
    assert PLAIN.of_bytes(agent.include.read_bytes()) == revision  # the config is applied all the same
    got = report("gw-down")
    assert got["configRevision"] == revision and got["keyVersions"] == {}  # the new key is not confirmed
    assert "`openclaw secrets reload` failed" in got["lastError"] and "do not revoke it yet" in got["lastError"]
    assert agent.poll() is False and agent.state.failures == 2 and agent.state.reload_pending
    failed = [line for line in agent.lines if "secrets reload` failed" in line]
    assert failed and all(line.count("gw-down") == 1 for line in failed), failed  # one prefix, not two
    assert [backoff(n, 30) for n in (0, 1, 2, 3, 5, 10)] == [30, 30, 60, 120, 300, 300]


def test_nothing_is_written_when_the_facts_are_unchanged(aws, tmp_path, gateways, aws_calls):
    """The README's promise: a deploy (or rotation) that changes nothing re-publishes no facts, so
    no agent sees a change and Parameter Store's write throughput is not spent."""
    project = fleet_project(tmp_path / "project", key_mode="inline")
    first_deploy(project)
    aws_calls.clear()

    deploy(project)

    facts_writes = [(c.operation, c.params.get("Key") or c.params.get("Name")) for c in aws_calls.answered
                    if c.operation in ("PutObject", "PutParameter")]
    assert facts_writes == []
    assert any(c.params.get("Key", "").endswith(".fleet.json") for c in aws_calls.answered)  # it did look


def test_a_running_agent_keeps_reporting_a_refused_config_until_the_facts_change(aws, tmp_path, gateways):
    """A long-running agent (state kept between polls): the refusal stays in every report while the
    refused facts stand (the next poll, answered 304, used to clear it), without backing off."""
    project = fleet_project(tmp_path / "project")
    good = first_deploy(project)
    agent = make_agent(project, gateways, "gw-a")
    assert agent.poll()
    s3 = boto3.client("s3", region_name="us-east-1")
    facts_key = f"{TARGETS[0]['key']}.fleet.json"
    facts = s3.get_object(Bucket=BUCKET, Key=facts_key)["Body"].read()
    s3.put_object(Bucket=BUCKET, Key=facts_key, Body=json.dumps({**json.loads(facts), "stack": "prod"}))

    for _ in range(3):
        assert agent.poll() is False
        got = report("gw-a")
        assert got["configRevision"] == good and "belong to stack prod" in (got["lastError"] or "")
        assert agent.state is not None and agent.state.failures == 0  # AWS answered: no backoff
    assert sum("belong to stack prod" in line for line in agent.lines) == 1  # one line, not one per poll

    s3.put_object(Bucket=BUCKET, Key=facts_key, Body=facts)  # the stack's own facts again
    assert agent.poll()
    assert report("gw-a")["lastError"] is None
