"""Stacks as `pulumi up` leaves them, and `status` run as a user runs it (checked to leak no key)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from kimi_infra.deploy import deploy_all
from kimi_infra.secret import Secret
from kimi_infra.stackfile import load_stack
from kimi_infra.stores import open_store
from tests.support.moto import create_bucket
from tests.support.project import CANARY_KEY, run_cli

TOKEN = "0f6c1d5e-8a43-4c1e-9b0e-3c2f7a9d4e11"  # a uuid4: a valid 36-character rotation token
NEW_KEY = CANARY_KEY.replace("CANARY", "ROTATED")


def seed_keys(project: Path, stack: str) -> None:
    """Each enabled provider's key in the stack's store, as `pulumi up` leaves it."""
    spec = load_stack(project, stack).spec
    for provider in spec.providers:
        open_store(spec, provider, project).ensure(Secret(CANARY_KEY.replace("CANARY", provider.upper())))


def deploy(project: Path, stack: str) -> None:
    """Seed the keys, create the stack's buckets, write every target."""
    spec = load_stack(project, stack).spec
    seed_keys(project, stack)
    for target in spec.targets:
        if target.kind == "s3":
            create_bucket(target.bucket, target.region)
    deploy_all(spec, project)


def status(project: Path, stack: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    result = run_cli("--project-dir", str(project), "status", "--stack", stack, *args, env=env)
    assert CANARY_KEY not in result.stdout + result.stderr
    assert NEW_KEY not in result.stdout + result.stderr
    return result
