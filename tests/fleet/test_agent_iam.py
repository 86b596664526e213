"""`iam-policy --for agent` with moto enforcing IAM: the printed policy is enough for `agent --once`,
and an agent may write only its own report (moto matches S3 ARNs; for SSM it checks actions only,
so the S3 target is what proves the scoping)."""

from __future__ import annotations

import json

import pytest

from tests.support.fleet import BUCKET, KEYS, STACK, deploy, fleet_project
from tests.support.iam import allows, enforced_policy, iam_actions, iam_world, run_here, set_enforcement
from tests.support.moto import create_bucket


@pytest.fixture(scope="module")
def iam_server(moto_factory):
    return moto_factory("moto-iam-fleet")


@pytest.fixture
def world(iam_server, monkeypatch):
    from tests.support.moto import point_boto3_at

    world = iam_world(iam_server)
    point_boto3_at(monkeypatch, iam_server.endpoint)
    yield world
    set_enforcement(iam_server, "inf")


def test_the_agent_runs_under_its_printed_policy_and_writes_only_its_own_report(world, tmp_path, gateways,
                                                                                monkeypatch):
    for name, value in world.admin.items():
        monkeypatch.setenv(name, value)
    project = fleet_project(tmp_path / "project")
    create_bucket(BUCKET, s3=world.client("s3"))  # boto3's default session may hold another test's keys
    deploy(project)
    printed = run_here(project, world.admin, "iam-policy", "--stack", STACK, "--for", "agent", "--gateway-id", "gw-a")
    assert printed.exit_code == 0, printed.output
    policy = json.loads(printed.stdout)
    agent_env = world.user("agent-gw-a", enforced_policy(policy))
    (gateways / "a").mkdir()
    (gateways / "b").mkdir()

    ran = run_here(project, agent_env, "agent", "--stack", STACK, "--target", "bucket", "--include",
                   str(gateways / "a" / "models.json5"), "--gateway-id", "gw-a", "--once")

    assert ran.exit_code == 0, ran.output
    assert ran.denied() == []
    for call in ran.calls:
        for action in iam_actions(call):
            assert allows(policy, action), action
    assert allows(policy, "s3:ListBucket", f"arn:aws:s3:::{BUCKET}")  # its first report was "no such key" (404)
    assert not any(call.service == "secretsmanager" for call in ran.calls)

    other = run_here(project, agent_env, "agent", "--stack", STACK, "--target", "bucket", "--include",
                     str(gateways / "b" / "models.json5"), "--gateway-id", "gw-b", "--once")
    assert other.exit_code == 1
    # The config and the facts it may read; gw-b's report it may neither read nor write.
    denied = [(c.operation, c.params["Key"]) for c in other.calls if c.status == 403]
    assert denied == [("GetObject", "openclaw/fl.json5.fleet/reports/gw-b.json"),
                      ("PutObject", "openclaw/fl.json5.fleet/reports/gw-b.json")]
    assert "cannot report" in other.output


def test_the_operator_policy_of_a_fleet_stack_covers_the_facts_and_the_fleet_command(world, tmp_path, gateways,
                                                                                     monkeypatch):
    for name, value in world.admin.items():
        monkeypatch.setenv(name, value)
    project = fleet_project(tmp_path / "project", key_mode="inline")
    create_bucket(BUCKET, s3=world.client("s3"))
    for provider, key in KEYS.items():
        seeded = run_here(project, world.admin, "set-key", "--stack", STACK, "--provider", provider, "--key-stdin",
                          "--skip-verify", stdin=key)
        assert seeded.exit_code == 0, seeded.output
    printed = run_here(project, world.admin, "iam-policy", "--stack", STACK, "--for", "operator")
    assert printed.exit_code == 0, printed.output
    operator = world.user("operator", enforced_policy(json.loads(printed.stdout)))

    deployed = run_here(project, operator, "deploy", "--stack", STACK)
    assert deployed.exit_code == 0 and deployed.denied() == [], deployed.output
    assert "(fleet facts): published" in deployed.output
    fleet = run_here(project, operator, "fleet", "--stack", STACK, "--json")
    assert fleet.denied() == [], fleet.output
    assert json.loads(fleet.stdout)["current"]["keyVersions"].keys() == KEYS.keys()
