"""Deployment targets: where a rendered config goes (a file, an S3 object, an SSM parameter).

`open_target` builds one from its stack-file spec. The S3 and SSM modules need boto3, so they
are imported only when such a target is opened: importing this package never loads boto3.
"""

from __future__ import annotations

from pathlib import Path

from kimi_infra.content_hash import PLAIN, ContentHasher
from kimi_infra.models import FileTargetSpec, S3TargetSpec, StackSpec, TargetSpec
from kimi_infra.paths import HISTORY_DIR, project_path, state_dir
from kimi_infra.targets.base import ConflictError, Deployed, Revision, Target, TargetError, WriteOutcome
from kimi_infra.targets.local_file import LocalFileTarget

__all__ = [
    "ConflictError",
    "Deployed",
    "LocalFileTarget",
    "Revision",
    "Target",
    "TargetError",
    "WriteOutcome",
    "open_stack_target",
    "open_target",
]


def open_target(spec: TargetSpec, project_dir: Path, history_dir: Path | None = None,
                hasher: ContentHasher = PLAIN) -> Target:
    """The target a stack file describes. A relative file path is relative to `project_dir`;
    `history_dir` keeps `<name>.jsonl` for file targets (S3 and SSM keep their own versions);
    `hasher` hashes what it holds (see `kimi_infra.deploy.content_hasher`)."""
    if isinstance(spec, FileTargetSpec):
        history = history_dir / f"{spec.name}.jsonl" if history_dir else None
        return LocalFileTarget(name=spec.name, path=project_path(project_dir, spec.path), history_path=history,
                               hasher=hasher)
    if isinstance(spec, S3TargetSpec):
        from kimi_infra.targets.s3 import S3Target

        return S3Target(name=spec.name, bucket=spec.bucket, key=spec.key, region=spec.region,
                        kms_key_id=spec.kmsKeyId, hasher=hasher)
    from kimi_infra.targets.ssm import SsmParameterTarget

    return SsmParameterTarget(name=spec.name, parameter=spec.parameter, region=spec.region,
                              kms_key_id=spec.kmsKeyId, hasher=hasher)



def open_stack_target(stack: StackSpec, spec: TargetSpec, project_dir: Path, hasher: ContentHasher) -> Target:
    """A stack's target, with file-target history kept under `.kimi-infra/<stack>/history/`, hashing
    with the stack's `hasher` (`kimi_infra.deploy.content_hasher`)."""
    return open_target(spec, project_dir, history_dir=state_dir(project_dir, stack.stack) / HISTORY_DIR,
                       hasher=hasher)
