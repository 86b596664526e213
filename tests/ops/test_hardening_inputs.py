"""Hostile inputs to the CLI: each is refused with exit non-zero and ONE line, and nothing is
written: every file of the project (bytes and mode) and moto's state are compared before and
after. Lock files are left out of the comparison: an empty lock file holds no content.
"""

from __future__ import annotations

import os
from pathlib import Path

import boto3
import pytest

from tests.support.ports import free_port
from tests.support.project import CANARY_KEY, dev_like, make_project, run_cli

NO_KEYS = {"MOONSHOT_API_KEY": "", "KIMICODE_API_KEY": ""}
ENV_KEYS = {"MOONSHOT_API_KEY": CANARY_KEY, "KIMICODE_API_KEY": CANARY_KEY + "-KIMI"}
ROTATE = ("rotate", "--stack", "dev", "-p", "moonshot", "--key-stdin", "--skip-verify")


def snapshot(project: Path) -> dict[str, tuple[bytes, int]]:
    files = {}
    for path in sorted(project.rglob("*")):
        if path.name.endswith(".lock"):
            continue
        data = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
        files[str(path.relative_to(project))] = (data, path.lstat().st_mode)
    return files


def moto_state() -> dict:
    sm = boto3.client("secretsmanager", region_name="us-east-1")
    s3 = boto3.client("s3", region_name="us-east-1")
    ssm = boto3.client("ssm", region_name="us-east-1")
    secrets = {s["Name"]: s.get("SecretVersionsToStages") for s in sm.list_secrets()["SecretList"]}
    objects = {b["Name"]: [o["Key"] for o in s3.list_objects_v2(Bucket=b["Name"]).get("Contents", [])]
               for b in s3.list_buckets()["Buckets"]}
    parameters = [p["Name"] for p in ssm.describe_parameters()["Parameters"]]
    return {"secrets": secrets, "objects": objects, "parameters": parameters}


def refused(project: Path, *args: str, env: dict | None = None, stdin: str | None = None, code: int = 2) -> str:
    """Run the CLI; assert exit `code`, one clean line on stderr and nothing written. Returns the line."""
    before = snapshot(project)
    result = run_cli("--project-dir", str(project), *args, env={**NO_KEYS, **(env or {})}, stdin=stdin)
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(("error: ", "invalid: ")), result.stderr
    assert "Traceback" not in result.stderr and CANARY_KEY not in result.stdout + result.stderr
    assert snapshot(project) == before
    return lines[0]


def dev_project(tmp_path: Path, **overrides) -> Path:
    return make_project(tmp_path, {"dev": dev_like(**overrides)})


def seeded_dev(tmp_path: Path, **overrides) -> Path:
    """A dev-like project deployed once with keys from the environment."""
    project = dev_project(tmp_path, **overrides)
    result = run_cli("--project-dir", str(project), "deploy", "--stack", "dev", env=ENV_KEYS)
    assert result.returncode == 0, result.stderr
    return project


def corrupt_store(project: Path) -> None:
    store = project / ".kimi-infra" / "dev" / "secrets.json"
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_bytes(b"\xff\xfe{" + CANARY_KEY.encode())


# --- encodings, NUL bytes, home folders -------------------------------------------------------------


def test_render_a_stack_file_that_is_not_utf8(tmp_path):
    project = dev_project(tmp_path)
    (project / "stacks" / "Pulumi.dev.yaml").write_bytes(b"config:\n  kimi-infra:region: gl\xffobal\n")
    assert "is not UTF-8 text" in refused(project, "render", "--stack", "dev")


def test_status_of_a_stack_file_that_is_not_utf8(tmp_path):
    project = dev_project(tmp_path)
    (project / "stacks" / "Pulumi.dev.yaml").write_bytes(b"\xfe\xff")
    assert "save the file as UTF-8" in refused(project, "status", "--stack", "dev", code=2)


def test_validate_a_file_that_is_not_utf8(tmp_path):
    project = dev_project(tmp_path)
    bad = project / "bad.json5"
    bad.write_bytes(b"{\xff}")
    assert "bad.json5: document: is not UTF-8 text" in refused(project, "validate", str(bad), code=1)


def test_deploy_a_target_under_an_unknown_home_folder(tmp_path):
    project = dev_project(tmp_path, targets=[{"kind": "file", "path": "~no-such-user-here/openclaw.json5"}])
    assert "home folder that does not exist" in refused(project, "deploy", "--stack", "dev")


def test_deploy_a_target_path_with_a_nul_byte(tmp_path):
    project = dev_project(tmp_path, targets=[{"kind": "file", "path": "out/a\0b.json5"}])
    assert "NUL byte" in refused(project, "deploy", "--stack", "dev")


# --- paths that would overwrite kimi-infra's own files ----------------------------------------------


@pytest.mark.parametrize(("out", "says"), [
    ("stacks/Pulumi.dev.yaml", "the stack file Pulumi.dev.yaml"),
    (".kimi-infra/dev/secrets.json", "the secret store file secrets.json"),
    ("out/openclaw.json5", "is the file of target 'local'"),
    ("Pulumi.yaml", "the project file Pulumi.yaml"),
])
def test_render_out_onto_a_kept_file(tmp_path, out, says):
    project = seeded_dev(tmp_path)
    assert says in refused(project, "render", "--stack", "dev", "--out", str(project / out))


def test_render_out_through_a_symlink_to_the_stack_file(tmp_path):
    project = seeded_dev(tmp_path)
    (project / "innocent.json5").symlink_to(project / "stacks" / "Pulumi.dev.yaml")
    assert "the stack file" in refused(project, "render", "--stack", "dev", "--out", str(project / "innocent.json5"))


def test_deploy_a_target_that_is_a_hard_link_to_the_store(tmp_path):
    project = seeded_dev(tmp_path, keyMode="inline")
    os.link(project / ".kimi-infra" / "dev" / "secrets.json", project / "linked.json5")
    (project / "stacks" / "Pulumi.dev.yaml").write_text(
        (project / "stacks" / "Pulumi.dev.yaml").read_text().replace("out/openclaw.json5", "linked.json5"))
    assert "the secret store file" in refused(project, "deploy", "--stack", "dev", env=ENV_KEYS)


def test_rotate_with_a_target_on_the_store_is_refused_before_any_stage(tmp_path):
    project = seeded_dev(tmp_path, keyMode="inline")
    (project / "stacks" / "Pulumi.dev.yaml").write_text((project / "stacks" / "Pulumi.dev.yaml").read_text()
                                                        .replace("out/openclaw.json5", ".kimi-infra/dev/secrets.json"))
    line = refused(project, *ROTATE, stdin="sk-new-key-000000000000000000000000")
    assert "resolves to the secret store file" in line


# --- deploy preflight: nothing stored, nothing written ----------------------------------------------


def test_deploy_inline_without_any_key(tmp_path):
    project = dev_project(tmp_path, keyMode="inline")
    line = refused(project, "deploy", "--stack", "dev")
    assert "needs the moonshot key" in line and "export MOONSHOT_API_KEY" in line


def test_deploy_secretref_without_any_key(tmp_path):
    project = dev_project(tmp_path, keyMode="secretref", resolver={"command": "/opt/kimi-infra/resolve"},
                          secretStore={"kind": "local", "path": str(tmp_path / "store" / "secrets.json")})
    assert "keyMode: secretref needs the moonshot key" in refused(project, "deploy", "--stack", "dev")


def test_deploy_whose_second_target_cannot_be_written_writes_neither_nor_stores_a_key(tmp_path):
    project = dev_project(tmp_path, keyMode="inline", targets=[
        {"name": "first", "kind": "file", "path": "out/first.json5"},
        {"name": "second", "kind": "file", "path": "blocker/second.json5"}])
    (project / "blocker").write_text("a file where a folder should be")
    line = refused(project, "deploy", "--stack", "dev", env=ENV_KEYS)
    assert "target second" in line and "cannot be created" in line


def test_deploy_into_a_folder_target(tmp_path):
    project = dev_project(tmp_path, targets=[{"kind": "file", "path": "out"}])
    (project / "out").mkdir()
    assert "is a folder" in refused(project, "deploy", "--stack", "dev")


# --- a corrupt local store ---------------------------------------------------------------------------


@pytest.mark.parametrize("args", [ROTATE, ("rollback", "--stack", "dev", "-p", "moonshot"),
                                  ("rotate", "--stack", "dev", "-p", "moonshot", "--resume", "--skip-verify")],
                         ids=["rotate", "rollback", "resume"])
def test_a_corrupt_store_is_one_line(tmp_path, args):
    project = dev_project(tmp_path)
    corrupt_store(project)
    line = refused(project, *args, stdin="sk-new-key-000000000000000000000000")
    assert "is not a kimi-infra store file" in line


def test_status_of_a_corrupt_store_is_an_error_per_key(tmp_path):
    project = seeded_dev(tmp_path)
    corrupt_store(project)
    before = snapshot(project)
    result = run_cli("--project-dir", str(project), "status", "--stack", "dev")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")] == [
        line for line in result.stderr.splitlines() if "not a kimi-infra store file" in line]
    assert snapshot(project) == before


# --- AWS: nothing stored in Secrets Manager, nothing put -------------------------------------------


def aws_stack(**overrides) -> dict:
    settings = {"keyMode": "inline", "secretStore": {"kind": "aws-secrets-manager", "region": "us-east-1"}}
    return dev_like(**{**settings, **overrides})


def refused_on_moto(project: Path, *args: str, env: dict | None = None) -> str:
    before = moto_state()
    line = refused(project, *args, env=env)
    assert moto_state() == before
    return line


@pytest.mark.usefixtures("aws")
def test_deploy_to_a_missing_bucket_stores_no_key(tmp_path):
    project = make_project(tmp_path, {"dev": aws_stack(targets=[
        {"kind": "s3", "bucket": "no-such-bucket", "key": "openclaw.json5", "region": "us-east-1"}])})
    line = refused_on_moto(project, "deploy", "--stack", "dev", env=ENV_KEYS)
    assert "s3://no-such-bucket/openclaw.json5: cannot reach the bucket" in line


@pytest.mark.usefixtures("aws")
def test_deploy_a_config_too_large_for_ssm_stores_no_key(tmp_path):
    extra = [{"id": f"model-{i}", "name": f"{i} " + "N" * 200, "contextWindow": 1000, "maxTokens": 100}
             for i in range(40)]
    project = make_project(tmp_path, {"dev": aws_stack(extraModels={"moonshot": extra}, targets=[
        {"kind": "ssm", "parameter": "/kimi-infra/dev/config", "region": "us-east-1"}])})
    line = refused_on_moto(project, "deploy", "--stack", "dev", env=ENV_KEYS)
    assert "over SSM's 8192-byte Advanced tier" in line


@pytest.mark.usefixtures("aws")
def test_deploy_secretref_on_aws_without_keys(tmp_path):
    project = make_project(tmp_path, {"dev": aws_stack(keyMode="secretref", resolver={"command": "/opt/r"})})
    assert "needs the moonshot key" in refused_on_moto(project, "deploy", "--stack", "dev")


def test_deploy_against_a_refusing_endpoint_names_the_kind(tmp_path):
    project = make_project(tmp_path, {"dev": aws_stack()})
    env = {**ENV_KEYS, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}", "AWS_ACCESS_KEY_ID": "x",
           "AWS_SECRET_ACCESS_KEY": "x", "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}
    line = refused(project, "deploy", "--stack", "dev", env=env)
    assert "cannot reach Secrets Manager in us-east-1: the endpoint refused the connection" in line
