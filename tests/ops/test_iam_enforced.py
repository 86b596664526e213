"""Every operator command, and the gateway's resolver, under exactly the policy `iam-policy`
printed, with moto enforcing IAM (issue 20, finding 4).

Each command runs in this process as a user holding only the printed policy; every AWS call it
makes is recorded with moto's answer. A command passes when it exits 0, moto denied none of its
calls, each call's IAM action is in the printed policy, and each KMS action AWS would check on
the caller's behalf (moto does not) is allowed on the stack's key. What moto cannot prove
(resources outside S3, conditions, KMS through the services) is said in the README's iam-policy
section; the resources are asserted on the JSON by tests/ops/test_iam_policy.py.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kimi_infra.catalog import PROVIDERS
from kimi_infra.resolver import main as resolver_main
from tests.support.fake_provider import FakeProvider
from tests.support.iam import (
    IamWorld,
    Ran,
    allows,
    enforced_policy,
    iam_actions,
    iam_world,
    kms_needs,
    recording,
    run_here,
)
from tests.support.moto import MotoServer, create_bucket
from tests.support.project import dev_like, make_project
from tests.support.rotation import NEW, OLD

STACK = "ops"
BUCKET = "kimi-infra-ops-config"
REGION = "us-east-1"
HOST_CHECKS = {"openclaw", "resolver"}  # doctor's checks of this host, not of AWS


@pytest.fixture(scope="module")
def iam_server(moto_factory) -> MotoServer:
    """A moto_server of this module's own: its IAM enforcement is switched on and off per test."""
    return moto_factory("moto-iam-ops")


@pytest.fixture
def world(iam_server: MotoServer) -> IamWorld:
    return iam_world(iam_server)


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as server:
        for name in PROVIDERS:
            server.accept(name, OLD[name], NEW[name])
        yield server


ALL_KINDS = ("file", "s3", "ssm")


def targets(kms: str | None, *, retired: bool, kinds: tuple[str, ...] = ALL_KINDS) -> list[dict[str, Any]]:
    """A file, an S3 and an SSM target (with `kms` for SSE-KMS and SecureString); with `retired`,
    one more S3 object and SSM parameter that a later `deploy --prune` removes; only `kinds`."""
    key = {"kmsKeyId": kms} if kms else {}
    named = [{"name": "local", "kind": "file", "path": "out/openclaw.json5"},
             {"name": "bucket", "kind": "s3", "bucket": BUCKET, "key": "openclaw/openclaw.json5", "region": REGION,
              **key},
             {"name": "parameter", "kind": "ssm", "parameter": f"/kimi-infra/{STACK}/openclaw-config",
              "region": REGION, **key}]
    if retired:
        named += [{"name": "old-bucket", "kind": "s3", "bucket": BUCKET, "key": "openclaw/old.json5",
                   "region": REGION, **key},
                  {"name": "old-parameter", "kind": "ssm", "parameter": f"/kimi-infra/{STACK}/old-config",
                   "region": REGION, **key}]
    return [target for target in named if target["kind"] in kinds]


def stack(mode: str, kms: str | None, *, retired: bool = True, model: str | None = None,
          kinds: tuple[str, ...] = ALL_KINDS) -> dict[str, Any]:
    store = {"kind": "aws-secrets-manager", "region": REGION, **({"kmsKeyId": kms} if kms else {})}
    extra = {"resolver": {"command": "/opt/kimi-infra/bin/kimi-infra-resolve"}} if mode == "secretref" else {}
    config = dev_like(keyMode=mode, secretStore=store, targets=targets(kms, retired=retired, kinds=kinds), **extra)
    if model:
        config["kimi-infra:primaryModel"] = model
    return config


def write_stack(project: Path, config: dict[str, Any]) -> None:
    (project / "stacks" / f"Pulumi.{STACK}.yaml").write_text(yaml.safe_dump({"config": config}, sort_keys=False))


class Operator:
    """Runs commands as the operator and checks each one against the printed policy."""

    def __init__(self, project: Path, env: dict[str, str], policy: dict[str, Any], keys: dict[str, str]):
        self.project, self.env, self.policy, self.keys = project, env, policy, keys
        self.table: list[tuple[str, list[str]]] = []

    def run(self, label: str, *args: str, stdin: str | None = None) -> Ran:
        ran = run_here(self.project, self.env, *args, stdin=stdin)
        assert ran.exit_code == 0, f"{label}: exit {ran.exit_code}, denied {ran.denied()}\n{ran.output}"
        assert_allowed(label, ran, self.policy, self.keys)
        self.table.append((label, called(ran, self.keys)))
        return ran


def assert_allowed(label: str, ran: Ran, policy: dict[str, Any], keys: dict[str, str]) -> None:
    """moto denied nothing, each call's action is in the printed policy, and each KMS action AWS
    would check for it is allowed on the stack's key."""
    assert ran.denied() == [], f"{label}: moto denied {ran.denied()}\n{ran.output}"
    for call in ran.calls:
        for action in iam_actions(call):
            assert allows(policy, action), f"{label}: {action} is not in the printed policy"
        for action, key in kms_needs(call, keys):
            assert allows(policy, action, key), f"{label}: {action} on {key} is not in the printed policy"


def called(ran: Ran, keys: dict[str, str]) -> list[str]:
    """The IAM actions of the calls a run made, and (in brackets) the KMS actions AWS makes on the
    caller's behalf for them, once each."""
    seen: dict[str, None] = {}
    for call in ran.calls:
        for action in iam_actions(call):
            seen[action] = None
        for action, _ in kms_needs(call, keys):
            seen[f"({action} via {call.service})"] = None
    return list(seen)


def revision(operator: Operator, target: str, back: int) -> str:
    ran = operator.run(f"history --target {target}", "history", "--stack", STACK, "--target", target, "--json")
    document = json.loads(ran.stdout)
    return document["targets"][0]["revisions"][back]["revision"]


def printed_policy(world: IamWorld, project: Path, role: str) -> dict[str, Any]:
    ran = run_here(project, world.admin, "iam-policy", "--stack", STACK, "--for", role)
    assert ran.exit_code == 0, ran.output
    return json.loads(ran.stdout)


def operator_world(world: IamWorld, tmp_path: Path, mode: str, kms: bool, deployed: bool = False,
                   kinds: tuple[str, ...] = ALL_KINDS) -> tuple[Operator, dict[str, Any]]:
    """What an admin sets up before handing over: the KMS key (with `kms`), the versioned bucket,
    the moonshot key (with `deployed`: both keys, deployed, as after `pulumi up`); then the printed
    operator policy, given to a user of its own."""
    key_arn = world.client("kms").create_key()["KeyMetadata"]["Arn"] if kms else None
    create_bucket(BUCKET, REGION, s3=world.client("s3"))
    config = stack(mode, key_arn, kinds=kinds)
    project = make_project(tmp_path, {STACK: config})
    for provider in ("moonshot", "kimi-code") if deployed else ("moonshot",):
        ran = run_here(project, world.admin, "set-key", "--stack", STACK, "--provider", provider, "--key-stdin",
                       "--skip-verify", stdin=OLD[provider])
        assert ran.exit_code == 0, ran.output
    if deployed:
        assert run_here(project, world.admin, "deploy", "--stack", STACK).exit_code == 0
    policy = printed_policy(world, project, "operator")
    keys = {service: key_arn for service in ("s3", "ssm", "secretsmanager")} if key_arn else {}
    operator = Operator(project, world.user("operator", enforced_policy(policy)), policy, keys)
    return operator, config


def every_operator_command(operator: Operator, fake: FakeProvider, mode: str, kms: str | None) -> None:
    """set-key, deploy, status, history, rotate, rollback, history --redeploy, deploy --prune,
    doctor: each under the printed policy."""
    verify = ("--verify-base-url",)
    operator.run("set-key", "set-key", "--stack", STACK, "--provider", "kimi-code", "--key-stdin", *verify,
                 fake.base_url("kimi-code"), stdin=OLD["kimi-code"])
    operator.run("deploy", "deploy", "--stack", STACK)
    operator.run("status", "status", "--stack", STACK)
    operator.run("history", "history", "--stack", STACK)
    operator.run("rotate", "rotate", "--stack", STACK, "--provider", "moonshot", "--key-stdin", *verify,
                 fake.base_url("moonshot"), stdin=NEW["moonshot"])
    operator.run("rollback", "rollback", "--stack", STACK, "--provider", "moonshot")
    before = {name: revision(operator, name, 0) for name in ("bucket", "parameter")}
    write_stack(operator.project, stack(mode, kms, model="moonshot/kimi-k2-turbo-preview"))
    operator.run("deploy (changed model)", "deploy", "--stack", STACK, "--yes")
    for name, rev in before.items():
        operator.run(f"history --redeploy ({name})", "history", "--stack", STACK, "--target", name,
                     "--redeploy", rev, "--yes")
    write_stack(operator.project, stack(mode, kms, retired=False))
    operator.run("deploy --prune", "deploy", "--stack", STACK, "--prune", "--yes")
    ran = run_here(operator.project, operator.env, "doctor", "--stack", STACK, "--openclaw", "/bin/true", "--json")
    assert_allowed("doctor", ran, operator.policy, operator.keys)
    checks = json.loads(ran.stdout)["checks"]
    assert [c for c in checks if not c["ok"] and c["check"] not in HOST_CHECKS] == [], checks  # every AWS check
    operator.table.append(("doctor", called(ran, operator.keys)))


@pytest.mark.parametrize(("mode", "kms"), [("inline", True), ("inline", False), ("secretref", False)])
def test_every_operator_command_runs_under_the_printed_policy(world, fake, tmp_path, mode, kms):
    operator, config = operator_world(world, tmp_path, mode, kms)
    key_arn = config["kimi-infra:secretStore"].get("kmsKeyId")

    every_operator_command(operator, fake, mode, key_arn)

    for label, actions in operator.table:
        print(f"IAM operator {mode}{' kms' if kms else ''} | {label} | {', '.join(actions)}")
    s3 = world.client("s3")
    assert s3.get_object(Bucket=BUCKET, Key="openclaw/openclaw.json5")["Body"].read()  # the admin sees the writes
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="openclaw/old")  # pruned


@pytest.mark.parametrize(("kind", "kms"), [("s3", False), ("s3", True), ("ssm", True)])
def test_rotate_of_an_inline_stack_rewrites_its_target_under_the_printed_policy(world, fake, tmp_path, kind, kms):
    """The reproduction of finding 4: after `pulumi up` (here: an admin's set-key and deploy), the
    rotation promotes the new key, then must write its S3 object (SSE-KMS with `kms`) or its SSM
    SecureString (through the stack's KMS key) with only the printed operator policy."""
    operator, _ = operator_world(world, tmp_path, "inline", kms, deployed=True, kinds=(kind,))

    operator.run("rotate", "rotate", "--stack", STACK, "--provider", "moonshot", "--key-stdin",
                 "--verify-base-url", fake.base_url("moonshot"), stdin=NEW["moonshot"])

    if kind == "s3":
        written = world.client("s3").get_object(Bucket=BUCKET, Key="openclaw/openclaw.json5")
        assert NEW["moonshot"] in written["Body"].read().decode()
        assert written["ServerSideEncryption"] == "aws:kms" and bool(written.get("SSEKMSKeyId")) == kms
    else:
        parameter = world.client("ssm").get_parameter(Name=f"/kimi-infra/{STACK}/openclaw-config",
                                                      WithDecryption=True)["Parameter"]
        assert parameter["Type"] == "SecureString" and NEW["moonshot"] in parameter["Value"]


@pytest.mark.parametrize("kms", [True, False])
def test_the_resolver_reads_the_keys_under_the_printed_gateway_policy(world, tmp_path, monkeypatch, capsys, kms):
    operator, _ = operator_world(world, tmp_path, "secretref", kms, deployed=True)
    policy = printed_policy(world, operator.project, "gateway")
    gateway = world.user("gateway", enforced_policy(policy))
    for name, value in gateway.items():
        monkeypatch.setenv(name, value)
    ids = [f"kimi-infra/{STACK}/{provider}" for provider in ("moonshot", "kimi-code")]
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(json.dumps(
        {"protocolVersion": 1, "provider": "kimi-infra", "ids": ids}).encode())))

    with recording() as calls:
        code = resolver_main(["--aws-region", REGION, "--stack", STACK])

    assert code == 0
    assert json.loads(capsys.readouterr().out)["values"] == {ids[0]: OLD["moonshot"], ids[1]: OLD["kimi-code"]}
    ran = Ran(code, "", "", list(calls))
    store_key = {"secretsmanager": operator.keys["secretsmanager"]} if kms else {}
    assert_allowed("resolver", ran, policy, store_key)
    actions = called(ran, store_key)
    print(f"IAM gateway secretref{' kms' if kms else ''} | resolver | {', '.join(actions)}")
    assert actions == ["secretsmanager:GetSecretValue"] + (["(kms:Decrypt via secretsmanager)"] if kms else [])
