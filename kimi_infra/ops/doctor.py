"""`doctor`: is this host ready to operate a stack? One check per line, each ok or failed with a fix.

Checks: AWS credentials for each partition the stack uses (STS caller identity), the secret
store reachable, the secretref resolver installed and trusted, S3 target buckets versioned (so
`history` and `--redeploy` work), and the OpenClaw CLI found. Plain Python; never reads a key.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kimi_infra.errors import KimiInfraError
from kimi_infra.models import AwsSecretsManagerStoreSpec, S3TargetSpec, StackSpec

OPENCLAW_TIMEOUT_S = 60


@dataclass(frozen=True)
class Check:
    """One line of the report: what was checked, whether it passed, what was found or why not."""

    name: str
    ok: bool
    detail: str
    fix: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"check": self.name, "ok": self.ok, "detail": self.detail, "fix": self.fix}


def run_checks(spec: StackSpec, project_dir: Path, *, openclaw: str | None = None,
               region: str | None = None) -> list[Check]:
    """Every check for the stack; each failure is a Check, never raised."""
    probes: list[tuple[str, Callable[[], Check | list[Check]]]] = [
        ("aws credentials", lambda: _credentials(spec, region)),
        ("secret store", lambda: _store(spec, project_dir)),
        ("resolver", lambda: _resolver(spec)),
        ("buckets versioned", lambda: _buckets(spec)),
        ("openclaw", lambda: _openclaw(openclaw)),
    ]
    checks: list[Check] = []
    for name, probe in probes:
        try:
            found = probe()
        except KimiInfraError as error:
            found = Check(name, False, f"{error.where + ': ' if error.where else ''}{error.problem}", error.fix)
        checks += found if isinstance(found, list) else [found]
    return checks


def aws_regions(spec: StackSpec) -> list[str]:
    """Every AWS region the stack's store and targets use (empty for a stack without AWS)."""
    regions = [spec.secretStore.region] if isinstance(spec.secretStore, AwsSecretsManagerStoreSpec) else []
    regions += [t.region for t in spec.targets if hasattr(t, "region")]
    return sorted(set(regions))


def _credentials(spec: StackSpec, extra_region: str | None) -> list[Check]:
    from kimi_infra.stores import partition_for_region

    by_partition: dict[str, str] = {}
    for region in aws_regions(spec) + ([extra_region] if extra_region else []):
        by_partition.setdefault(partition_for_region(region), region)
    if not by_partition:
        return [Check("aws credentials", True, "not needed: the stack uses no AWS")]
    return [_caller_identity(partition, region) for partition, region in sorted(by_partition.items())]


def _caller_identity(partition: str, region: str) -> Check:
    from kimi_infra import aws
    from kimi_infra.targets.base import aws_errors

    name = f"aws credentials ({partition})"
    with aws_errors(f"sts {region}", "get the caller identity"):
        arn = aws.client("sts", region).get_caller_identity()["Arn"]
    if arn.split(":")[1] != partition:
        return Check(name, False, f"the credentials are for partition {arn.split(':')[1]}, not {partition}",
                     f"use credentials of the {partition} partition (--profile NAME or AWS_PROFILE)")
    return Check(name, True, arn)


def _store(spec: StackSpec, project_dir: Path) -> list[Check]:
    from kimi_infra.stores import SecretNotFoundError, open_store

    checks = []
    for provider in spec.providers:
        store = open_store(spec, provider, project_dir)
        try:
            current = store.describe().version_in("current")
        except SecretNotFoundError:
            current = None
        detail = f"{store.name} reachable; " + (f"current version {current.version_id}" if current
                                                else "no key stored yet")
        checks.append(Check(f"secret store ({provider})", True, detail))
    return checks


def _resolver(spec: StackSpec) -> Check:
    from kimi_infra.ops.resolver_check import RESOLVER_FIX, resolver_problem

    if not spec.gateway_fetches_keys or spec.resolver is None:
        return Check("resolver", True, f"not needed: keyMode {spec.keyMode}")
    problem = resolver_problem(spec.resolver.command)
    if problem:
        return Check("resolver", False, problem, RESOLVER_FIX)
    return Check("resolver", True, f"{spec.resolver.command} installed and trusted by OpenClaw's rules")


def _buckets(spec: StackSpec) -> list[Check]:
    from kimi_infra import aws
    from kimi_infra.targets.base import aws_errors

    buckets = sorted({(t.bucket, t.region) for t in spec.targets if isinstance(t, S3TargetSpec)})
    if not buckets:
        return [Check("buckets versioned", True, "not needed: no s3 target")]
    checks = []
    for bucket, region in buckets:
        with aws_errors(f"s3://{bucket}", "read the versioning of"):
            status = aws.client("s3", region).get_bucket_versioning(Bucket=bucket).get("Status")
        if status == "Enabled":
            checks.append(Check(f"bucket versioned ({bucket})", True, f"s3://{bucket} versioning enabled"))
        else:
            checks.append(Check(f"bucket versioned ({bucket})", False,
                                f"s3://{bucket} versioning is {(status or 'off').lower()}: no history to redeploy",
                                f"aws s3api put-bucket-versioning --bucket {bucket} "
                                "--versioning-configuration Status=Enabled"))
    return checks


def _openclaw(command: str | None) -> Check:
    path = shutil.which(command or "openclaw")
    fix = "install OpenClaw (npm install -g openclaw) or give --openclaw PATH"
    if path is None:
        return Check("openclaw", False, f"{command or 'openclaw'} not found", fix)
    try:
        result = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=OPENCLAW_TIMEOUT_S,
                                check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return Check("openclaw", False, f"{path} does not run ({type(error).__name__})", fix)
    if result.returncode != 0:
        return Check("openclaw", False, f"{path} --version exited {result.returncode}", fix)
    version = (result.stdout.strip().splitlines() or ["unknown version"])[-1]
    return Check("openclaw", True, f"{path} ({version})")
