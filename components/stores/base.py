"""The SecretStore protocol: one provider's API key in one environment, with rotation stages.

Stages follow AWS Secrets Manager: `current` (AWSCURRENT) is what the gateway uses, `pending`
(AWSPENDING) a staged key under verification, `previous` (AWSPREVIOUS) the key before the last
promotion, kept for rollback.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from components.errors import KimiInfraError
from components.secret import Secret

Stage = Literal["current", "pending", "previous"]
EnsureOutcome = Literal["created", "updated", "unchanged"]
MAX_SECRET_BYTES = 65_536  # Secrets Manager's limit; moto does not enforce it, so we do.


class StoreError(KimiInfraError):
    """A store operation failed; the message names the secret, never its value."""


@dataclass(frozen=True)
class SecretVersion:
    """One stored version: its id, its stages, when it was created. Never the value."""

    version_id: str
    stages: tuple[Stage, ...]
    created: datetime | None


@dataclass(frozen=True)
class SecretDescription:
    """What `describe()` returns: safe to print and to export."""

    name: str
    arn: str | None  # None for the local store
    versions: tuple[SecretVersion, ...]

    def version_in(self, stage: Stage) -> SecretVersion | None:
        return next((v for v in self.versions if stage in v.stages), None)


@dataclass(frozen=True)
class EnsureResult:
    outcome: EnsureOutcome
    version_id: str
    arn: str | None


class SecretStore(Protocol):
    """One secret, `kimi-infra/<stack>/<provider>`, in one store. Every write is idempotent."""

    name: str

    def exists(self) -> bool:
        """Whether the secret exists (a deleted-but-recoverable AWS secret does not count)."""

    def ensure(self, value: Secret) -> EnsureResult:
        """Create the secret, or make `value` current if it differs; no write when equal."""

    def get(self, stage: Stage = "current") -> Secret | None:
        """The value in `stage`, or None when no version holds that stage."""

    def stage_pending(self, value: Secret, token: str) -> str:
        """Store `value` as pending under version id `token`; a retry with the same token and
        value is a no-op. Returns the version id."""

    def promote(self, token: str) -> None:
        """Make version `token` current (the old current becomes previous); no-op if it is."""

    def discard_pending(self) -> None:
        """Remove the pending stage (and its value where the store can); no-op if none."""

    def rollback(self) -> str:
        """Make previous current again (current becomes previous). Returns the new current id."""

    def describe(self) -> SecretDescription:
        """Versions with stages and dates, never values."""

    def delete(self) -> None:
        """Delete the secret (AWS: with its recovery window). No-op if it does not exist."""


def validate_value(name: str, value: Secret) -> None:
    """Reject values no store accepts, before any call is made."""
    if not value.reveal().strip():
        raise StoreError(f"{name}: the key is empty; fix: give the provider's API key")
    size = len(value.reveal().encode("utf-8"))
    if size > MAX_SECRET_BYTES:
        raise StoreError(f"{name}: the key is {size} bytes, over the {MAX_SECRET_BYTES}-byte limit; "
                         "fix: give the API key itself, not a file of keys")
