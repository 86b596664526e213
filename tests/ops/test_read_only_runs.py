"""Read-only commands and `deploy --preview` create nothing (no store file, no salt secret), and a
key-bearing temp left by a killed write is gone after the next run that touches its file, even one
that writes nothing (issue 20, finding 9 / Build 7). Through the real CLI, on a local store and on
Secrets Manager (moto_server)."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from tests.support.moto import create_bucket
from tests.support.project import dev_like, make_project, run_cli
from tests.support.rotation import rotation_project

MOONSHOT = "sk-readonly-moonshot-0123456789abcdefgh"
KIMICODE = "sk-readonly-kimicode-0123456789abcdefgh"
KEYS = {"MOONSHOT_API_KEY": MOONSHOT, "KIMICODE_API_KEY": KIMICODE}
DEAD_PID = 4194305  # above Linux's pid_max: no process has it, so its temps are stale


def read_only_runs(project: Path, stack: str) -> list[str]:
    """Every command that must create nothing: what each printed (their exit codes vary: a new
    stack is missing its targets and keys)."""
    outputs = []
    for args in (["deploy", "--preview"], ["deploy", "--preview", "--json"], ["status"], ["status", "--json"],
                 ["history"], ["doctor"]):
        result = run_cli("--project-dir", str(project), *args, "--stack", stack, env=KEYS)
        assert "Traceback" not in result.stderr, result.stderr
        outputs.append(result.stdout + result.stderr)
    return outputs


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def test_preview_and_read_only_commands_of_a_new_inline_local_stack_create_no_store(tmp_path):
    project = make_project(tmp_path, {"t": dev_like(keyMode="inline")})
    before = files_under(project)
    outputs = read_only_runs(project, "t")
    assert "would change; nothing written" in outputs[0]
    assert json.loads(outputs[1])["hashAlgorithm"] == "hmac-sha256"  # hashed, with a one-off salt
    assert files_under(project) == before  # no .kimi-infra/t/secrets.json (salt), no lock, no record


def test_preview_and_read_only_commands_of_a_new_inline_aws_stack_create_no_salt_secret(aws, tmp_path):
    project = rotation_project(tmp_path, "inline")
    create_bucket("kimi-infra-staging-config")
    before = files_under(project)
    outputs = read_only_runs(project, "staging")
    assert "would change; nothing written" in outputs[0]
    assert boto3.client("secretsmanager", region_name="us-east-1").list_secrets()["SecretList"] == []
    assert "Contents" not in boto3.client("s3", region_name="us-east-1").list_objects_v2(
        Bucket="kimi-infra-staging-config")
    assert files_under(project) == before


def test_a_real_deploy_still_makes_the_salt_and_keys_the_hashes_with_it(aws, tmp_path):
    """The preview's one-off salt is not kept: the deploy that writes makes the stack's."""
    project = rotation_project(tmp_path, "inline")
    create_bucket("kimi-infra-staging-config")
    preview = json.loads(run_cli("--project-dir", str(project), "deploy", "--preview", "--json", "--stack",
                                 "staging", env=KEYS).stdout)
    result = run_cli("--project-dir", str(project), "deploy", "--json", "--stack", "staging", env=KEYS)
    assert result.returncode == 0, result.stderr
    deployed = json.loads(result.stdout)
    names = {s["Name"] for s in boto3.client("secretsmanager", region_name="us-east-1").list_secrets()["SecretList"]}
    assert "kimi-infra/staging/token-salt" in names
    assert deployed["renderedSha256"] != preview["renderedSha256"]
    status = json.loads(run_cli("--project-dir", str(project), "status", "--json", "--stack", "staging").stdout)
    assert status["targets"][0]["state"] == "in-sync"
    assert status["targets"][0]["deployedSha256"] == deployed["renderedSha256"]


def _plant_stale_temps(project: Path) -> list[Path]:
    """What a `kill -9` between write and rename leaves: 0600 temps holding the key, beside the
    inline target and beside the store file."""
    planted = []
    for path in (project / "out" / "openclaw.json5", project / ".kimi-infra" / "t" / "secrets.json"):
        temp = path.with_name(f".{path.name}.{DEAD_PID}.x1y2z3ab.tmp")
        temp.write_text(f'{{"apiKey": "{MOONSHOT}"}}\n')
        temp.chmod(0o600)
        planted.append(temp)
    return planted


@pytest.mark.parametrize("command", [["deploy"], ["status"], ["history"]])
def test_a_run_that_writes_nothing_removes_stale_key_bearing_temps(tmp_path, command):
    project = make_project(tmp_path, {"t": dev_like(keyMode="inline")})
    first = run_cli("--project-dir", str(project), "deploy", "--stack", "t", env=KEYS)
    assert first.returncode == 0, first.stderr
    planted = _plant_stale_temps(project)
    config = (project / "out" / "openclaw.json5").read_bytes()

    result = run_cli("--project-dir", str(project), *command, "--stack", "t", env=KEYS)

    assert result.returncode == 0, result.stderr
    assert [temp for temp in planted if temp.exists()] == []
    assert (project / "out" / "openclaw.json5").read_bytes() == config  # nothing to write: nothing written
    if command == ["deploy"]:
        assert "1 unchanged" in result.stdout


def test_a_live_writers_temp_is_left_alone(tmp_path):
    import os

    project = make_project(tmp_path, {"t": dev_like(keyMode="inline")})
    assert run_cli("--project-dir", str(project), "deploy", "--stack", "t", env=KEYS).returncode == 0
    mine = project / "out" / f".openclaw.json5.{os.getpid()}.inflight.tmp"  # this test process is alive
    mine.write_text("in flight")
    assert run_cli("--project-dir", str(project), "status", "--stack", "t").returncode == 0
    assert mine.exists()
