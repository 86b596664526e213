"""`status`: exit 0 in sync, 1 on drift / missing / pending rotation, 2 when the check fails.

Real moto_server, real subprocess CLI runs, real files; nothing patched.
"""

from __future__ import annotations

import hashlib
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from kimi_infra.commands.report_lines import human_age
from kimi_infra.deploy import deploy_all, render_for_deploy
from kimi_infra.secret import Secret
from kimi_infra.stackfile import load_stack
from kimi_infra.stores import open_store
from tests.support.moto import create_bucket
from tests.support.ports import free_port
from tests.support.project import PROJECT_DIR, dev_like, make_project
from tests.support.status import NEW_KEY, TOKEN, deploy, status

PROD_BUCKET = "s3://kimi-infra-prod-config/openclaw/openclaw.json5"
PROD_PARAMETER = "ssm:us-east-1:/kimi-infra/prod/openclaw-config"


def line_of(output: str, prefix: str) -> str:
    return next(line for line in output.splitlines() if line.startswith(prefix))


def errors_of(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_status_is_0_after_a_deploy(aws, project: Path):
    deploy(project, "prod")
    result = status(project, "prod")
    assert result.returncode == 0, result.stderr
    sha = render_for_deploy(load_stack(project, "prod").spec, project).content_hash[:12]
    assert line_of(result.stdout, "target config-bucket").startswith(
        f"target config-bucket  {PROD_BUCKET}  in sync  sha256 {sha}  revision ")
    assert line_of(result.stdout, "target config-parameter") == (
        f"target config-parameter  {PROD_PARAMETER}  in sync  sha256 {sha}  revision 1")
    for provider in ("moonshot", "kimi-code"):
        key = line_of(result.stdout, f"key {provider}")
        assert key.startswith(f"key {provider}  kimi-infra/prod/{provider}  current ")
        assert key.endswith("  pending: none")
    assert result.stdout.splitlines()[-1] == "stack prod  in sync"
    # Progress goes to stderr, one line per target, so stdout stays the report alone.
    assert f"checking config-bucket ({PROD_BUCKET})" in result.stderr.splitlines()
    assert f"checking config-parameter ({PROD_PARAMETER})" in result.stderr.splitlines()
    assert "\x1b[" not in result.stdout + result.stderr  # not a terminal: no colour codes


def test_status_is_1_and_names_the_s3_target_edited_behind_our_back(aws, project: Path):
    deploy(project, "prod")
    edited = b'{ edited: "by hand" }\n'
    boto3.client("s3", region_name="us-east-1").put_object(
        Bucket="kimi-infra-prod-config", Key="openclaw/openclaw.json5", Body=edited)
    result = status(project, "prod")
    assert result.returncode == 1, result.stderr
    bucket = line_of(result.stdout, "target config-bucket")
    assert f"drifted (deployed {hashlib.sha256(edited).hexdigest()[:12]}..., rendered " in bucket
    assert "  in sync  " in line_of(result.stdout, "target config-parameter")
    assert result.stdout.splitlines()[-1] == "stack prod  out of sync: config-bucket drifted"


def test_status_is_1_for_an_edited_then_deleted_local_file(project: Path):
    deploy(project, "dev")
    deployed = project / ".kimi-infra" / "dev" / "openclaw.json5"
    assert status(project, "dev").returncode == 0
    deployed.write_text(deployed.read_text() + "// edited\n")
    result = status(project, "dev")
    assert result.returncode == 1
    assert line_of(result.stdout, "target local").startswith(
        f"target local  {deployed}  drifted (deployed ")  # outside the working folder: absolute
    deployed.unlink()
    result = status(project, "dev")
    assert result.returncode == 1
    assert "  missing (rendered " in line_of(result.stdout, "target local")
    assert result.stdout.splitlines()[-1] == "stack dev  out of sync: local missing"


def test_status_is_1_while_a_rotation_is_pending(aws, project: Path):
    deploy(project, "prod")
    spec = load_stack(project, "prod").spec
    store = open_store(spec, "moonshot", project)
    store.stage_pending(Secret(NEW_KEY), TOKEN)
    result = status(project, "prod")
    assert result.returncode == 1, result.stderr
    assert line_of(result.stdout, "key moonshot").endswith(f"  pending: {TOKEN}")
    assert line_of(result.stdout, "key kimi-code").endswith("  pending: none")
    assert "  in sync  " in line_of(result.stdout, "target config-bucket")  # prod holds no key in its file
    assert result.stdout.splitlines()[-1] == "stack prod  out of sync: moonshot rotation pending"
    store.promote(TOKEN)
    result = status(project, "prod")
    assert result.returncode == 0, result.stdout
    assert f"key moonshot  kimi-infra/prod/moonshot  current {TOKEN} (" in result.stdout


def test_status_json_is_one_document_with_every_field(aws, project: Path):
    deploy(project, "prod")
    open_store(load_stack(project, "prod").spec, "moonshot", project).stage_pending(Secret(NEW_KEY), TOKEN)
    result = status(project, "prod", "--json")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["stack"] == "prod"
    assert report["inSync"] is False
    assert [t["name"] for t in report["targets"]] == ["config-bucket", "config-parameter"]
    for target in report["targets"]:
        assert set(target) >= {"name", "location", "state", "deployedSha256", "renderedSha256", "revision"}
        assert target["state"] == "in-sync"
        assert target["deployedSha256"] == target["renderedSha256"]
        assert target["revision"]
    assert report["targets"][0]["location"] == PROD_BUCKET
    keys = {k["provider"]: k for k in report["keys"]}
    assert set(keys) == {"moonshot", "kimi-code"}
    assert keys["moonshot"]["pending"] == TOKEN
    assert keys["kimi-code"]["pending"] is None
    for key in keys.values():
        assert key["secret"] == f"kimi-infra/prod/{key['provider']}"
        assert key["currentVersion"]
        assert isinstance(key["ageSeconds"], int) and key["ageSeconds"] >= 0


def test_a_never_deployed_stack_is_missing_with_exit_1(aws, project: Path):
    create_bucket("kimi-infra-staging-config")
    result = status(project, "staging")
    assert result.returncode == 1, result.stderr
    assert errors_of(result.stderr) == []
    assert line_of(result.stdout, "key moonshot").startswith(
        "key moonshot  kimi-infra/staging/moonshot  missing: kimi-infra/staging/moonshot: not found in Secrets Manager")
    assert "  missing (rendered " in line_of(result.stdout, "target config-bucket")


def test_status_is_2_when_aws_cannot_be_reached(aws, project: Path):
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = status(project, "staging", env={"AWS_ENDPOINT_URL": closed})
    assert result.returncode == 2
    errors = errors_of(result.stderr)
    assert len(errors) == 3  # each key and the target, one line each
    assert any(e.startswith("error: s3://kimi-infra-staging-config/openclaw/openclaw.json5: cannot read: cannot reach")
               for e in errors)
    assert "stack staging  out of sync" in result.stdout


def test_status_is_2_for_an_unknown_stack(project: Path):
    result = status(project, "nope")
    assert result.returncode == 2
    assert errors_of(result.stderr)[0].startswith("error: ")
    assert "no stack named 'nope'" in result.stderr


def test_inline_mode_shows_a_promoted_key_as_drift_until_redeployed(tmp_path: Path):
    """Inline configs carry the key: promoting a rotation changes the render, not the file."""
    project = make_project(tmp_path, {"lab": dev_like(keyMode="inline", providers=["moonshot"])})
    deploy(project, "lab")
    spec = load_stack(project, "lab").spec
    assert status(project, "lab").returncode == 0
    store = open_store(spec, "moonshot", project)
    store.stage_pending(Secret(NEW_KEY), TOKEN)
    pending = status(project, "lab")
    assert pending.returncode == 1
    assert "  in sync  " in line_of(pending.stdout, "target local")
    store.promote(TOKEN)
    drifted = status(project, "lab", "--json")
    assert drifted.returncode == 1
    [target] = json.loads(drifted.stdout)["targets"]
    assert target["state"] == "drifted"
    assert target["deployedSha256"] != target["renderedSha256"]
    deploy_all(spec, project)
    assert status(project, "lab").returncode == 0


def test_inline_file_that_lost_its_protection_is_drifted(tmp_path: Path):
    project = make_project(tmp_path, {"lab": dev_like(keyMode="inline", providers=["moonshot"])})
    deploy(project, "lab")
    (project / "out" / "openclaw.json5").chmod(0o644)  # same bytes, key readable by everyone
    result = status(project, "lab")
    assert result.returncode == 1
    assert "drifted (same content, but it holds a key and is not protected)" in line_of(result.stdout, "target local")


def test_colour_only_when_stdout_is_a_terminal(project: Path):
    deploy(project, "dev")
    controller, terminal = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(PROJECT_DIR)}
    env.pop("NO_COLOR", None)
    try:
        process = subprocess.run([sys.executable, "-m", "kimi_infra", "--project-dir", str(project), "status",
                                  "--stack", "dev"], stdout=terminal, stderr=subprocess.PIPE, env=env, timeout=120)
    finally:
        os.close(terminal)
    output = _drain(controller)
    assert process.returncode == 0, process.stderr
    assert "\x1b[32min sync\x1b[0m" in output  # green on a terminal
    assert "\x1b[" not in status(project, "dev").stdout  # and plain through a pipe


def _drain(fd: int) -> str:
    chunks = []
    try:
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    except OSError:  # Linux reports EIO once the terminal's other end is closed
        pass
    finally:
        os.close(fd)
    return b"".join(chunks).decode()


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "under a minute old"), (59, "under a minute old"), (60, "1 minute old"), (7_199, "1 hour old"),
    (7_200, "2 hours old"), (86_400, "1 day old"), (3 * 86_400 + 5, "3 days old"),
])
def test_human_age(seconds: int, text: str):
    assert human_age(seconds) == text
