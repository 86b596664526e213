"""The `lab` stack with one target of each kind, deployed (twice) as `pulumi up` would, and `history` run on it."""

from __future__ import annotations

import subprocess
from pathlib import Path

from kimi_infra.deploy import deploy_all, render_for_deploy
from kimi_infra.stackfile import load_stack
from tests.support.moto import create_bucket
from tests.support.project import dev_like, make_project, run_cli

TARGETS = [
    {"name": "local", "kind": "file", "path": "out/openclaw.json5"},
    {"name": "bucket", "kind": "s3", "bucket": "kimi-infra-lab-config", "key": "openclaw/openclaw.json5",
     "region": "us-east-1"},
    {"name": "parameter", "kind": "ssm", "parameter": "/kimi-infra/lab/openclaw-config", "region": "us-east-1"},
]
LOCATIONS = {"local": "out/openclaw.json5", "bucket": "s3://kimi-infra-lab-config/openclaw/openclaw.json5",
             "parameter": "ssm:us-east-1:/kimi-infra/lab/openclaw-config"}


def write_stack(root: Path, context_window: int) -> Path:
    """The `lab` stack with all three target kinds; the override makes each deploy differ."""
    overrides = {"moonshot/kimi-k2-0905-preview": {"contextWindow": context_window}}
    return make_project(root, {"lab": dev_like(targets=TARGETS, modelOverrides=overrides)})


def deploy(project: Path) -> str:
    """Write every target; returns the deployed config's sha256."""
    spec = load_stack(project, "lab").spec
    deploy_all(spec, project)
    return render_for_deploy(spec, project).content_hash


def history(project: Path, *args: str) -> subprocess.CompletedProcess:
    return run_cli("--project-dir", str(project), "history", "--stack", "lab", *args, cwd=project)


def deploy_twice(tmp_path: Path) -> tuple[Path, list[str]]:
    """The lab project deployed twice with different overrides; the two hashes, oldest first."""
    create_bucket("kimi-infra-lab-config")
    project = write_stack(tmp_path, 131_072)
    first = deploy(project)
    second = deploy(write_stack(tmp_path, 200_000))
    assert first != second
    return project, [first, second]
