"""The secretref key mode: what we render for OpenClaw, and the exec resolver it runs.

The resolver is always run as OpenClaw runs it: the launcher `install-resolver` writes, in a real
subprocess with only the passed variables (no PATH, no HOME) and cwd = its folder, against a real
moto_server or a real local store file. No OpenClaw here (see tests/contract/ for that).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import boto3
import json5
import pytest

from kimi_infra.catalog import secret_id
from kimi_infra.errors import SpecError
from kimi_infra.models import ResolverSpec, StackSpec
from kimi_infra.render import render_stack
from kimi_infra.secret import Secret
from kimi_infra.stackfile import load_stack
from kimi_infra.stores import LocalFileStore
from kimi_infra.stores.aws_secrets_manager import AwsSecretsManagerStore
from tests.support.ports import free_port
from tests.support.project import CANARY_KEY, PROJECT_DIR, run_cli
from tests.support.resolver import answer, assert_clean, aws_env, call_resolver, install_launcher, request

RESOLVER_COMMAND = "/opt/kimi-infra/bin/kimi-infra-resolve"
MOONSHOT = secret_id("staging", "moonshot")
KIMI_CODE = secret_id("staging", "kimi-code")


@pytest.fixture(scope="module")
def launcher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return install_launcher(tmp_path_factory.mktemp("resolver") / "bin" / "kimi-infra-resolve")


@pytest.fixture
def local_store(tmp_path: Path) -> Path:
    """A local store file holding the canary as dev's moonshot key."""
    path = tmp_path / "store" / "secrets.json"
    LocalFileStore(path, secret_id("dev", "moonshot")).ensure(Secret(CANARY_KEY))
    return path


# --- rendering: the secretref mode -------------------------------------------------------------


def secretref_spec(**values) -> StackSpec:
    return StackSpec.model_validate({
        "stack": "staging", "providers": ["moonshot", "kimi-code"], "keyMode": "secretref",
        "resolver": {"command": RESOLVER_COMMAND},
        "secretStore": {"kind": "aws-secrets-manager", "region": "us-east-1"},
        "targets": [{"kind": "file", "path": "x.json5"}], **values,
    })


def rendered(spec: StackSpec) -> dict:
    return json5.loads(render_stack(spec).text)


def test_shipped_stacks_use_secretref_except_dev(known_project: Path):
    modes = {stack: load_stack(known_project, stack).spec for stack in ("dev", "staging", "prod", "prod-cn")}
    assert modes["dev"].keyMode == "reference"
    for stack in ("staging", "prod", "prod-cn"):
        assert modes[stack].keyMode == "secretref"
        assert modes[stack].resolver.command == RESOLVER_COMMAND


def test_secretref_renders_our_exec_provider_and_a_ref_per_provider(known_project: Path):
    loaded = load_stack(known_project, "staging")
    result = render_stack(loaded.spec)
    config = json5.loads(result.text)
    provider = config["secrets"]["providers"]["kimi-infra"]
    assert list(provider) == ["source", "command", "args", "passEnv", "jsonOnly", "timeoutMs"]
    assert provider == {"source": "exec", "command": RESOLVER_COMMAND, "args": ["--aws-region", "us-east-1",
                        "--stack", "staging", "--deadline-ms", "10000"],
                        "passEnv": ResolverSpec.model_fields["passEnv"].default, "jsonOnly": True, "timeoutMs": 15000}
    assert {"HOME", "AWS_ENDPOINT_URL", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"} <= set(provider["passEnv"])
    for name in ("moonshot", "kimi-code"):
        assert config["models"]["providers"][name]["apiKey"] == {
            "source": "exec", "provider": "kimi-infra", "id": secret_id("staging", name)}
    assert "env" not in config and not result.holds_secret


def test_resolver_args_follow_the_secret_store():
    bound = ["--stack", "staging", "--deadline-ms", "10000"]  # bound to its stack, answering before timeoutMs
    cn = secretref_spec(secretStore={"kind": "aws-secrets-manager", "region": "cn-north-1", "profile": "china-ops"})
    assert rendered(cn)["secrets"]["providers"]["kimi-infra"]["args"] == [
        "--aws-region", "cn-north-1", "--aws-profile", "china-ops", *bound]
    local = secretref_spec(secretStore={"kind": "local", "path": "/var/lib/kimi-infra/secrets.json"})
    assert rendered(local)["secrets"]["providers"]["kimi-infra"]["args"] == [
        "--local-file", "/var/lib/kimi-infra/secrets.json", *bound]


@pytest.mark.parametrize("store", [{"kind": "local"}, {"kind": "local", "path": ".kimi-infra/dev/secrets.json"},
                                   {"kind": "local", "path": "~/secrets.json"}])
def test_secretref_with_a_local_store_needs_an_absolute_path(store):
    with pytest.raises(SpecError) as caught:
        render_stack(secretref_spec(secretStore=store))
    assert caught.value.field == "kimi-infra:secretStore.path"
    assert "absolute" in str(caught.value) and "\n" not in str(caught.value)


def test_timeout_is_configurable_within_openclaws_bounds():
    spec = secretref_spec(resolver={"command": RESOLVER_COMMAND, "timeoutMs": 30000})
    assert rendered(spec)["secrets"]["providers"]["kimi-infra"]["timeoutMs"] == 30000
    for bad in (0, 120_001):
        with pytest.raises(ValueError, match="timeoutMs"):
            secretref_spec(resolver={"command": RESOLVER_COMMAND, "timeoutMs": bad})


# --- install-resolver ---------------------------------------------------------------------------


def test_install_resolver_writes_a_launcher_openclaw_accepts(tmp_path):
    dest = tmp_path / "bin" / "kimi-infra-resolve"
    dest.parent.mkdir()
    decoy = tmp_path / "decoy"
    decoy.write_text("untouched")
    dest.symlink_to(decoy)  # OpenClaw refuses a symlink: the launcher must replace it, not follow it
    result = run_cli("install-resolver", "--dest", str(dest))
    assert result.returncode == 0, result.stderr
    info = dest.lstat()
    assert stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o755
    assert info.st_uid == os.getuid()
    assert dest.read_text().splitlines()[0] == f"#!{sys.executable}"
    assert decoy.read_text() == "untouched"
    assert str(dest) in result.stdout


def test_install_resolver_makes_a_relative_dest_absolute(tmp_path):
    result = run_cli("install-resolver", "--dest", "bin/resolve", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"wrote {tmp_path / 'bin' / 'resolve'};" in result.stdout


def test_install_resolver_unwritable_dest_is_one_line(tmp_path):
    (tmp_path / "file").write_text("")
    result = run_cli("install-resolver", "--dest", str(tmp_path / "file" / "resolve"))
    assert result.returncode == 2
    assert result.stderr.startswith("error: install-resolver: cannot write") and result.stderr.count("\n") == 1


def test_checkout_launcher_runs_the_same_resolver(local_store):
    script = PROJECT_DIR / "bin" / "kimi-infra-resolve"
    assert script.stat().st_mode & 0o111
    result = subprocess.run([sys.executable, str(script), "--local-file", str(local_store)],
                            input=json.dumps(request(secret_id("dev", "moonshot"))).encode(), capture_output=True,
                            timeout=60)
    assert answer(result)["values"] == {secret_id("dev", "moonshot"): CANARY_KEY}


# --- the exec protocol ----------------------------------------------------------------------------


def test_an_empty_request_needs_no_store(launcher):
    assert answer(call_resolver(launcher, [], request())) == {"protocolVersion": 1, "values": {}}


MALFORMED = {
    "empty": b"",
    "not json": b"hello " + CANARY_KEY.encode(),
    "truncated": json.dumps(request(MOONSHOT))[:-3].encode() + CANARY_KEY.encode(),
    "not utf-8": b"\xff\xfe" + CANARY_KEY.encode(),
    "array": json.dumps([CANARY_KEY]).encode(),
    "no ids": json.dumps({"protocolVersion": 1, "provider": CANARY_KEY}).encode(),
    "ids not strings": json.dumps({"protocolVersion": 1, "ids": [1, CANARY_KEY]}).encode(),
    "version as text": json.dumps({"protocolVersion": CANARY_KEY, "ids": []}).encode(),
}


@pytest.mark.parametrize("stdin", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_stdin_is_one_line_and_exit_1_without_echo(launcher, local_store, stdin):
    result = call_resolver(launcher, ["--local-file", str(local_store)], stdin)
    assert result.returncode == 1 and result.stdout == b""
    stderr = assert_clean(result)
    assert stderr.startswith("kimi-infra-resolve: bad request on stdin: ") and stderr.count("\n") == 1, stderr


def test_a_wrong_protocol_version_is_named(launcher, local_store):
    result = call_resolver(launcher, ["--local-file", str(local_store)], {**request(MOONSHOT), "protocolVersion": 2})
    assert result.returncode == 1 and result.stdout == b""
    assert "protocolVersion is 2; this resolver speaks 1" in assert_clean(result)


def test_unknown_ids_are_invalid_and_known_ones_still_resolve(launcher, local_store):
    dev_moonshot = secret_id("dev", "moonshot")
    bad = ["kimi-infra/dev/openai", "other/dev/moonshot", "kimi-infra/moonshot", f"{dev_moonshot}/x",
           "kimi-infra/../moonshot"]
    result = call_resolver(launcher, ["--local-file", str(local_store)], request(*bad, dev_moonshot, dev_moonshot))
    assert answer(result) == {"protocolVersion": 1, "values": {dev_moonshot: CANARY_KEY},
                              "errors": {ref: {"code": "INVALID_ID"} for ref in bad}}
    assert assert_clean(result).count("\n") == len(bad)


def test_a_known_id_without_a_store_argument_is_a_clear_exit_1(launcher):
    result = call_resolver(launcher, [], request(MOONSHOT))
    assert result.returncode == 1 and result.stdout == b""
    assert "fix: pass --aws-region REGION or --local-file PATH" in assert_clean(result)


def test_local_store_missing_secret_and_unreadable_file(launcher, local_store, tmp_path):
    missing = call_resolver(launcher, ["--local-file", str(local_store)], request(secret_id("dev", "kimi-code")))
    assert answer(missing)["errors"] == {secret_id("dev", "kimi-code"): {"code": "NOT_FOUND"}}
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text('{"format": 1, "secrets": "' + CANARY_KEY)  # a damaged store must not leak via errors
    result = call_resolver(launcher, ["--local-file", str(corrupt)], request(secret_id("dev", "moonshot")))
    assert answer(result)["errors"] == {secret_id("dev", "moonshot"): {"code": "UNAVAILABLE"}}
    assert "not a kimi-infra store file" in assert_clean(result)


def test_aws_canary_only_in_stdout_for_its_id(launcher, aws):
    AwsSecretsManagerStore(MOONSHOT, "us-east-1").ensure(Secret(CANARY_KEY))
    result = call_resolver(launcher, ["--aws-region", "us-east-1"], request(MOONSHOT, KIMI_CODE), aws_env(aws.endpoint))
    assert answer(result) == {"protocolVersion": 1, "values": {MOONSHOT: CANARY_KEY},
                              "errors": {KIMI_CODE: {"code": "NOT_FOUND"}}}
    assert f"{KIMI_CODE}: not found in Secrets Manager" in assert_clean(result)


def test_aws_deleted_secrets_are_not_found(launcher, aws):
    for name in (MOONSHOT, KIMI_CODE):
        AwsSecretsManagerStore(name, "us-east-1").ensure(Secret(CANARY_KEY + name[-4:]))
    client = boto3.client("secretsmanager", region_name="us-east-1")
    client.delete_secret(SecretId=MOONSHOT)  # with a recovery window
    client.delete_secret(SecretId=KIMI_CODE, ForceDeleteWithoutRecovery=True)
    result = call_resolver(launcher, ["--aws-region", "us-east-1"], request(MOONSHOT, KIMI_CODE), aws_env(aws.endpoint))
    assert answer(result)["errors"] == {MOONSHOT: {"code": "NOT_FOUND"}, KIMI_CODE: {"code": "NOT_FOUND"}}
    assert "scheduled for deletion" in assert_clean(result)


def test_aws_unreachable_store_is_unavailable(launcher):
    closed = f"http://127.0.0.1:{free_port()}"
    result = call_resolver(launcher, ["--aws-region", "cn-north-1"], request(MOONSHOT, KIMI_CODE), aws_env(closed))
    assert answer(result) == {"protocolVersion": 1, "values": {},
                              "errors": {MOONSHOT: {"code": "UNAVAILABLE"}, KIMI_CODE: {"code": "UNAVAILABLE"}}}
    assert "cannot reach Secrets Manager in cn-north-1" in assert_clean(result)


def test_aws_denied_access_is_access_denied(launcher, moto_factory):
    server = moto_factory("moto-iam-strict", {"INITIAL_NO_AUTH_ACTION_COUNT": "0"})  # IAM enforced
    result = call_resolver(launcher, ["--aws-region", "us-east-1"], request(MOONSHOT), aws_env(server.endpoint))
    assert answer(result) == {"protocolVersion": 1, "values": {}, "errors": {MOONSHOT: {"code": "ACCESS_DENIED"}}}
    assert "access denied" in assert_clean(result)


PROBE = """
import atexit, sys
atexit.register(lambda: sys.stderr.write(
    "LOADED:" + ",".join(m for m in ("pulumi", "boto3", "botocore") if m in sys.modules) + "\\n"))
from kimi_infra.resolver import main
sys.exit(main(sys.argv[1:]))
"""


def test_local_store_path_loads_neither_pulumi_nor_boto3(local_store):
    result = subprocess.run([sys.executable, "-c", PROBE, "--local-file", str(local_store)], cwd=PROJECT_DIR,
                            input=json.dumps(request(secret_id("dev", "moonshot"))).encode(), capture_output=True,
                            timeout=60)
    assert answer(result)["values"] == {secret_id("dev", "moonshot"): CANARY_KEY}
    assert result.stderr.decode().strip().splitlines()[-1] == "LOADED:"
