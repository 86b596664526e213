"""The SecretStore protocol: one provider's API key in one environment, with rotation stages.

Stages follow AWS Secrets Manager: `current` (AWSCURRENT) is what the gateway uses, `pending`
(AWSPENDING) a staged key under verification, `previous` (AWSPREVIOUS) the key before the last
promotion, kept for rollback.
"""

from __future__ import annotations

import re
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from kimi_infra.errors import KimiInfraError
from kimi_infra.secret import Secret

Stage = Literal["current", "pending", "previous"]
EnsureOutcome = Literal["created", "updated", "unchanged"]
MAX_SECRET_BYTES = 65_536  # Secrets Manager's limit; moto does not enforce it, so we do.
# Secrets Manager takes a ClientRequestToken of 32-64 characters as the new version's id; the
# narrower alphabet (a uuid4 fits) keeps tokens safe in file keys and in one-line messages.
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9-]{32,64}")


class StoreError(KimiInfraError):
    """A store operation failed; the message names the secret, never its value."""


class SecretNotFoundError(StoreError):
    """The secret does not exist (or is scheduled for deletion)."""


class StoreAccessError(StoreError):
    """The caller may not use the secret: access denied, no credentials, an unusable KMS key."""


class ConcurrentRotationError(StoreError):
    """Another rotation moved a stage of this secret meanwhile: ours was refused, nothing lost."""


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

    def promote(self, token: str, expected_current: str | None = None) -> None:
        """Make version `token` current (the old current becomes previous); no-op if it is.

        With `expected_current` (the current id the caller saw) this is a compare-and-set:
        ConcurrentRotationError when another version became current meanwhile."""

    def discard_pending(self, token: str | None = None) -> None:
        """Remove the pending stage (and its value where the store can); no-op if none. With
        `token`, only when that version holds it (never another rotation's pending key)."""

    def token_salt(self) -> bytes:
        """The store's random salt for keyed hashes of its keys (rotation tokens), created on
        first use and kept with the store, readable only by whoever may read the keys."""

    def read_salt(self) -> bytes | None:
        """The store's salt as `token_salt` gives it, or None before it was made; creates nothing
        (for read-only commands and previews)."""

    def exclusive(self) -> AbstractContextManager[None]:
        """Hold off other rotations of this store for the block (the local store locks a file;
        Secrets Manager has no lock, so there `promote`'s compare-and-set decides)."""

    def rollback(self, expected_current: str | None = None) -> str:
        """Make previous current again (current becomes previous). Returns the new current id.

        With `expected_current` (the current id the caller saw) a retry is a no-op once that
        version is already previous; if someone else moved current meanwhile, StoreError."""

    def describe(self) -> SecretDescription:
        """Versions with stages and dates, never values."""

    def describe_if_exists(self) -> SecretDescription | None:
        """`describe()` if the secret `exists()`, else None: what the provider's diff asks on every
        preview, in one read of the store where the two calls made two (issue 23)."""

    def delete(self) -> None:
        """Delete the secret (AWS: with its recovery window). No-op if it does not exist."""


SALT_BYTES = 32


def new_salt() -> str:
    """A fresh random salt, hex-encoded."""
    import secrets

    return secrets.token_hex(SALT_BYTES)


def validate_value(name: str, value: Secret) -> None:
    """Reject values no store accepts, before any call is made."""
    if not value.reveal().strip():
        raise StoreError("the key is empty", where=name, fix="give the provider's API key")
    size = len(value.reveal().encode("utf-8"))
    if size > MAX_SECRET_BYTES:
        raise StoreError(f"the key is {size} bytes, over the {MAX_SECRET_BYTES}-byte limit", where=name,
                         fix="give the API key itself, not a file of keys")


def validate_token(name: str, token: str) -> None:
    """Reject a rotation token that cannot be a version id, before any call is made."""
    if not isinstance(token, str) or not TOKEN_PATTERN.fullmatch(token):
        raise StoreError("the rotation token must be 32-64 letters, digits or '-' (a uuid4 fits)", where=name,
                         fix="pass e.g. str(uuid.uuid4())")


def validate_pending(name: str, value: Secret, token: str) -> None:
    """What every store checks before staging `value` as version `token`: both must be usable."""
    validate_token(name, token)
    validate_value(name, value)


def moved_meanwhile(name: str, expected: str | None, current: str | None) -> ConcurrentRotationError:
    """The one line for a lost compare-and-set on the current stage."""
    return ConcurrentRotationError(
        f"another rotation made version {current} current meanwhile (expected {expected}); your key was not "
        "made current and nothing was lost", where=name, fix="check `status`, then rotate again if still wanted")


def rollback_step(name: str, current: str | None, previous: str | None,
                  expected_current: str | None) -> tuple[str, bool]:
    """(the version that is current after the rollback, whether current still has to move there);
    no move for a retry that already did it (`expected_current` is previous now). StoreError when
    there is nothing to roll back to."""
    if expected_current is not None and current != expected_current:
        if current is not None and previous == expected_current:
            return current, False
        raise StoreError(f"current version changed to {current} meanwhile", where=name,
                         fix="check `status` and roll back again if still wanted")
    if current is None or previous is None:
        raise StoreError("no previous version to roll back to", where=name, fix="nothing to undo")
    return previous, True
