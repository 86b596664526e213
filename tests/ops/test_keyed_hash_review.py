"""Issue 13 review: keyed content hashes must hold when a stack changes keyMode, when records were
written before hashes were keyed, and after our own rotations.

- No bare sha256 (nor a 12-character prefix) of bytes that hold a key is printed, even when the
  stack's hasher is plain sha256 (keyMode reference) and a target still holds an inline config.
- `deploy` reports drift only when a target holds something other than what kimi-infra put there:
  not after switching keyMode, not for a record written before hashes were keyed, not after `rotate`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import boto3
import yaml

from tests.support.project import dev_like, make_project, run_cli
from tests.support.rotation import rotation_project, seed

KEYS = {"MOONSHOT_API_KEY": "sk-review-moonshot-0123456789abcdefghij",
        "KIMICODE_API_KEY": "sk-review-kimicode-0123456789abcdefghij"}
TARGET = Path("out/openclaw.json5")


def cli(project: Path, *args: str, stdin: str | None = None) -> str:
    """Run a command that must succeed; everything it printed."""
    result = run_cli("--project-dir", str(project), *args, env=KEYS, stdin=stdin)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def preview(project: Path, stack: str = "t") -> dict:
    return json.loads(run_cli("--project-dir", str(project), "deploy", "--stack", stack, "--preview", "--json").stdout)


def set_key_mode(project: Path, stack: str, mode: str) -> None:
    path = project / "stacks" / f"Pulumi.{stack}.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"]["kimi-infra:keyMode"] = mode
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def bare(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:12]


def inline_project(tmp_path: Path) -> Path:
    project = make_project(tmp_path, {"t": dev_like(keyMode="inline")})
    cli(project, "deploy", "--stack", "t")
    assert KEYS["MOONSHOT_API_KEY"].encode() in (project / TARGET).read_bytes()
    return project


def test_a_reference_stack_whose_target_still_holds_keys_prints_no_bare_hash_of_them(tmp_path):
    project = inline_project(tmp_path)
    deployed = (project / TARGET).read_bytes()
    set_key_mode(project, "t", "reference")

    printed = run_cli("--project-dir", str(project), "status", "--stack", "t").stdout
    printed += run_cli("--project-dir", str(project), "status", "--stack", "t", "--json").stdout
    printed += json.dumps(preview(project)) + cli(project, "history", "--stack", "t", "--json")
    assert bare(deployed) not in printed
    assert "drifted" in printed  # still told apart from the reference render


def test_history_of_an_ssm_target_prints_no_bare_hash_of_its_inline_versions(aws, tmp_path):
    project = rotation_project(tmp_path, "inline")
    spec = seed(project, "prod")
    parameter = next(t for t in spec.targets if t.kind == "ssm")
    ssm = boto3.client("ssm", region_name=parameter.region)
    value = ssm.get_parameter(Name=parameter.parameter, WithDecryption=True)["Parameter"]["Value"]
    assert "sk-moonshot-old" in value
    set_key_mode(project, "prod", "reference")

    printed = cli(project, "history", "--stack", "prod", "--json") + cli(project, "history", "--stack", "prod")
    assert bare(value.encode()) not in printed


def test_switching_key_mode_is_not_drift(tmp_path):
    project = inline_project(tmp_path)
    set_key_mode(project, "t", "reference")
    assert [t["drift"] for t in preview(project)["targets"]] == [False]
    cli(project, "deploy", "--stack", "t")  # no --yes needed: nobody else changed the target

    set_key_mode(project, "t", "inline")
    assert [t["drift"] for t in preview(project)["targets"]] == [False]
    cli(project, "deploy", "--stack", "t")
    assert [t["drift"] for t in preview(project)["targets"]] == [False]


def test_a_hand_edit_is_still_drift_across_a_key_mode_switch(tmp_path):
    project = inline_project(tmp_path)
    set_key_mode(project, "t", "reference")
    target = project / TARGET
    target.write_text(target.read_text().replace('"merge"', '"replace"'))
    assert [t["drift"] for t in preview(project)["targets"]] == [True]


def test_a_record_written_before_hashes_were_keyed_is_not_drift(tmp_path):
    project = inline_project(tmp_path)
    record_path = project / ".kimi-infra" / "t" / "deployed.json"
    record = json.loads(record_path.read_text())
    for entry in record["targets"].values():  # as kimi-infra 0.2.0 wrote it: a bare sha256
        entry.pop("contentHash")
        entry.pop("hashAlgorithm", None)
        entry["sha256"] = hashlib.sha256((project / TARGET).read_bytes()).hexdigest()
    record_path.write_text(json.dumps(record))
    assert [t["drift"] for t in preview(project)["targets"]] == [False]

    cli(project, "deploy", "--stack", "t")  # rewrites the record: the bare hash is gone
    assert bare((project / TARGET).read_bytes()) not in record_path.read_text()


def test_our_own_rotation_and_rollback_are_not_drift(tmp_path):
    project = inline_project(tmp_path)
    for provider in ("moonshot", "kimi-code"):
        cli(project, "rotate", "--stack", "t", "-p", provider, "--key-stdin", "--skip-verify",
            stdin=f"sk-review-{provider}-rotated-99999999999999\n")
        assert [t["drift"] for t in preview(project)["targets"]] == [False]
    cli(project, "rollback", "--stack", "t", "-p", "moonshot")  # neither the first nor the last config
    assert [t["drift"] for t in preview(project)["targets"]] == [False]
    status = json.loads(run_cli("--project-dir", str(project), "status", "--stack", "t", "--json").stdout)
    assert status["inSync"] is True


def test_the_plain_hasher_withholds_the_hash_of_bytes_that_hold_a_key():
    from kimi_infra.content_hash import PLAIN, WITHHELD, ContentHasher

    with_key = b'{ env: { vars: { MOONSHOT_API_KEY: "sk-guess" } } }'
    assert PLAIN.of_bytes(with_key) == WITHHELD and ContentHasher(b"s" * 32).of_bytes(with_key) != WITHHELD
    reference = b'{ apiKey: "${MOONSHOT_API_KEY}" }'
    assert PLAIN.of_bytes(reference) == hashlib.sha256(reference).hexdigest()


def test_a_salt_scheduled_for_deletion_is_named_with_its_own_fix(aws, tmp_path):
    project = rotation_project(tmp_path, "inline")
    seed(project, "prod")
    boto3.client("secretsmanager", region_name="us-east-1").delete_secret(
        SecretId="kimi-infra/prod/token-salt", RecoveryWindowInDays=7)

    for command in (("status",), ("deploy",), ("history",)):
        result = run_cli("--project-dir", str(project), *command, "--stack", "prod")
        assert result.returncode != 0 and "Traceback" not in result.stderr
        said = result.stdout + result.stderr
        assert "restore-secret --secret-id kimi-infra/prod/token-salt" in said, said
        assert "kimi-infra/prod/moonshot: scheduled" not in said  # the provider's secret is fine


def test_without_create_secret_read_only_commands_work_and_make_no_salt(tmp_path):
    """A stack deployed before salts existed, read with the operator policy `iam-policy` printed
    then (no CreateSecret): status, history and deploy --preview create nothing (issue 20: they
    hash with a one-off salt), so they work without CreateSecret and the salt stays absent."""
    from kimi_infra.ops.iam_policy import OPERATOR_ACTIONS
    from tests.ops.test_iam_policy import client, moto_env
    from tests.support.moto import start_moto, stop_moto

    def user(iam, name: str, actions: list[str]) -> dict:
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName="kimi-infra", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}))
        access = iam.create_access_key(UserName=name)["AccessKey"]
        return moto_env(server.endpoint, access["AccessKeyId"], access["SecretAccessKey"])

    server = start_moto(tmp_path / "moto.log", {"INITIAL_NO_AUTH_ACTION_COUNT": "6"})  # the 6 calls of 2 users
    try:
        iam = client("iam", moto_env(server.endpoint))
        admin, operator = user(iam, "admin", ["*"]), user(iam, "operator", OPERATOR_ACTIONS)
        store = {"kind": "aws-secrets-manager", "region": "us-east-1"}
        project = make_project(tmp_path / "p", {"t": dev_like(keyMode="inline", secretStore=store)})
        assert run_cli("--project-dir", str(project), "deploy", "--stack", "t", env={**admin, **KEYS}).returncode == 0
        sm = client("secretsmanager", admin)
        sm.delete_secret(SecretId="kimi-infra/t/token-salt", ForceDeleteWithoutRecovery=True)  # as before salts

        for command in (("status",), ("history",), ("deploy", "--preview")):
            result = run_cli("--project-dir", str(project), *command, "--stack", "t", env=operator)
            assert result.returncode == 0, result.stdout + result.stderr
            assert "token-salt" not in result.stdout + result.stderr
        assert "kimi-infra/t/token-salt" not in [s["Name"] for s in sm.list_secrets()["SecretList"]]
    finally:
        stop_moto(server)


def test_history_hides_the_bare_hashes_a_0_2_0_log_of_an_inline_stack_holds(tmp_path):
    project = inline_project(tmp_path)
    log = project / ".kimi-infra" / "t" / "history" / "local.jsonl"
    deployed = (project / TARGET).read_bytes()
    entry = json.loads(log.read_text())
    log.write_text(json.dumps({"revision": entry["revision"], "sha256": hashlib.sha256(deployed).hexdigest(),
                               "time": entry["time"]}) + "\n")  # as kimi-infra 0.2.0 wrote it

    printed = cli(project, "history", "--stack", "t") + cli(project, "history", "--stack", "t", "--json")
    assert bare(deployed) not in printed
    assert "revision 1" in printed  # the revision itself is still listed
