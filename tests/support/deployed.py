"""What a stack has deployed, read back the way an outsider would: target bytes, store versions, and
a fingerprint of every write (version ids, ETags, parameter versions, file inodes) to count writes."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import boto3

from kimi_infra.content_hash import PLAIN
from kimi_infra.models import FileTargetSpec, LocalStoreSpec, S3TargetSpec, StackSpec, TargetSpec
from kimi_infra.stackfile import load_stack
from kimi_infra.stores import open_store
from kimi_infra.targets import open_stack_target


def stack_spec(project: Path, stack: str) -> StackSpec:
    return load_stack(project, stack).spec


def deployed_text(project: Path, spec: StackSpec, target: TargetSpec) -> str | None:
    """The target's bytes as text, or None when nothing is deployed there."""
    if isinstance(target, FileTargetSpec):
        path = Path(open_stack_target(spec, target, project, PLAIN).location)
        return path.read_text() if path.exists() else None
    if isinstance(target, S3TargetSpec):
        s3 = boto3.client("s3", region_name=target.region)
        try:
            return s3.get_object(Bucket=target.bucket, Key=target.key)["Body"].read().decode()
        except s3.exceptions.NoSuchKey:
            return None
    ssm = boto3.client("ssm", region_name=target.region)
    try:
        return ssm.get_parameter(Name=target.parameter, WithDecryption=True)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        return None


def rendered_by_cli(project: Path, stack: str, env: dict[str, str] | None = None) -> str:
    """`kimi-infra render --stack <stack> --out -` in a subprocess, as a user runs it."""
    from tests.support.project import run_cli

    result = run_cli("--project-dir", str(project), "render", "--stack", stack, "--out", "-", env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def current_key(project: Path, spec: StackSpec, provider: str) -> str | None:
    key = open_store(spec, provider, project).get("current")
    return key.reveal() if key else None


def write_fingerprint(project: Path, spec: StackSpec) -> dict[str, Any]:
    """Everything a write would change, for every secret and target of the stack: equal fingerprints
    before and after a run mean the run wrote nothing."""
    prints: dict[str, Any] = {}
    for provider in spec.providers:
        prints[f"secret:{provider}"] = _secret_fingerprint(project, spec, provider)
    for target in spec.targets:
        prints[f"target:{target.name}"] = _target_fingerprint(project, spec, target)
    return prints


def _secret_fingerprint(project: Path, spec: StackSpec, provider: str) -> Any:
    store = open_store(spec, provider, project)
    if isinstance(spec.secretStore, LocalStoreSpec):
        return _file_fingerprint(Path(store.path))
    sm = boto3.client("secretsmanager", region_name=spec.secretStore.region)
    versions = sm.list_secret_version_ids(SecretId=store.name, IncludeDeprecated=True)["Versions"]
    return sorted((v["VersionId"], tuple(sorted(v.get("VersionStages", [])))) for v in versions)


def _target_fingerprint(project: Path, spec: StackSpec, target: TargetSpec) -> Any:
    if isinstance(target, FileTargetSpec):
        return _file_fingerprint(Path(open_stack_target(spec, target, project, PLAIN).location))
    if isinstance(target, S3TargetSpec):
        s3 = boto3.client("s3", region_name=target.region)
        listed = s3.list_object_versions(Bucket=target.bucket, Prefix=target.key)
        return sorted((v["VersionId"], v["ETag"]) for v in listed.get("Versions", []) if v["Key"] == target.key)
    ssm = boto3.client("ssm", region_name=target.region)
    try:
        return ssm.get_parameter(Name=target.parameter)["Parameter"]["Version"]
    except ssm.exceptions.ParameterNotFound:
        return None


def _file_fingerprint(path: Path) -> Any:
    if not path.exists():
        return None
    status = path.stat()
    return status.st_ino, status.st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest()
