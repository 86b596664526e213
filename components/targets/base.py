"""The Target protocol: one place a rendered OpenClaw config is deployed to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from components.errors import KimiInfraError
from components.render import Rendered

WriteOutcome = Literal["written", "unchanged"]


class TargetError(KimiInfraError):
    """A target operation failed; the message names the target, never the content."""


class ConflictError(TargetError):
    """Someone else changed the target between our read and our write; nothing was lost."""


@dataclass(frozen=True)
class Deployed:
    """What is at the target now: the sha256 of its actual bytes and the store's revision."""

    sha256: str
    revision: str | None
    modified: datetime | None


@dataclass(frozen=True)
class Revision:
    """One deployed revision, for `history`."""

    revision: str
    sha256: str | None
    time: datetime | None


class Target(Protocol):
    """A deployment target. `write` is idempotent: same content, no write call."""

    name: str
    location: str  # human-readable: a path, s3://bucket/key, ssm:<region>:<parameter>

    def read(self) -> Deployed | None:
        """What is deployed now (hash of the real bytes, so edits behind our back show), or None."""

    def write(self, rendered: Rendered) -> WriteOutcome:
        """Deploy `rendered` unless its hash equals the deployed one; secret content is protected
        (file 0600, S3 SSE-KMS, SSM SecureString)."""

    def delete(self) -> bool:
        """Remove the deployed config; False when there was nothing to remove."""

    def history(self) -> list[Revision]:
        """Deployed revisions, newest first."""
