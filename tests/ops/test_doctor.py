"""`doctor` on the staging stack against moto_server: healthy -> exit 0; an unversioned bucket or a
missing resolver -> exit 1 naming it. The real CLI in a subprocess; the real OpenClaw client."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from tests.support.openclaw import OpenClaw
from tests.support.project import copy_known_project, run_cli
from tests.support.resolver import install_launcher

BUCKET = "kimi-infra-staging-config"


@pytest.fixture
def project(tmp_path: Path, aws) -> Path:
    """The real staging stack, its resolver installed here, its bucket versioned in moto."""
    copy_known_project(tmp_path)
    launcher = install_launcher(tmp_path / "bin" / "kimi-infra-resolve")
    stack_file = tmp_path / "stacks" / "Pulumi.staging.yaml"
    stack_file.write_text(stack_file.read_text().replace("/opt/kimi-infra/bin/kimi-infra-resolve", str(launcher)))
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return tmp_path


def doctor(project: Path, client: OpenClaw, *extra: str):
    return run_cli("--project-dir", str(project), "doctor", "--stack", "staging", "--openclaw",
                   str(client.launcher), *extra)


def test_a_healthy_stack_passes_every_check(project, openclaw):
    result = doctor(project, openclaw)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[:-1]] == [
        "ok   aws credentials (aws)", "ok   secret store (moonshot)", "ok   secret store (kimi-code)",
        "ok   resolver", f"ok   bucket versioned ({BUCKET})", "ok   openclaw"]
    assert lines[-1] == "stack staging: all 6 checks ok"
    document = json.loads(doctor(project, openclaw, "--json").stdout)
    assert document["ok"] is True and len(document["checks"]) == 6


def test_an_unversioned_bucket_fails_naming_it(project, openclaw):
    boto3.client("s3", region_name="us-east-1").put_bucket_versioning(
        Bucket=BUCKET, VersioningConfiguration={"Status": "Suspended"})
    result = doctor(project, openclaw)
    assert result.returncode == 1
    assert f"FAIL bucket versioned ({BUCKET}): s3://{BUCKET} versioning is suspended" in result.stdout
    assert "stack staging: 1 check failed" in result.stdout
    failure = json.loads(doctor(project, openclaw, "--json").stdout)
    assert failure["ok"] is False and [c["check"] for c in failure["checks"] if not c["ok"]] == [
        f"bucket versioned ({BUCKET})"]


def test_a_missing_resolver_fails_naming_it(project, openclaw):
    launcher = project / "bin" / "kimi-infra-resolve"
    launcher.unlink()
    result = doctor(project, openclaw)
    assert result.returncode == 1
    assert f"FAIL resolver: {launcher} does not exist on this host" in result.stdout
    assert "install-resolver" in result.stdout
