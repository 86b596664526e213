"""The Target protocol: one place a rendered OpenClaw config is deployed to.

Also what every target shares: the rule for skipping a write, one-line errors, and for the AWS
targets a fresh client per call plus the translation of AWS failures. Nothing here imports
boto3 at module level, so importing `kimi_infra.targets` stays cheap.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Literal, Protocol

from kimi_infra import aws
from kimi_infra.content_hash import PLAIN, ContentHasher
from kimi_infra.errors import KimiInfraError
from kimi_infra.render import Rendered

WriteOutcome = Literal["written", "unchanged"]
"""`written`: the target changed (its content, or only its protection); `unchanged`: no write."""

log = logging.getLogger("kimi_infra.targets")


class TargetError(KimiInfraError):
    """A target operation failed; the message names the target, never the content."""


class ConflictError(TargetError):
    """Someone else changed the target between our read and our write; nothing was lost."""


@dataclass(frozen=True)
class Deployed:
    """What is at the target now: the content hash of its actual bytes and the store's revision.

    `protected` says whether the target is fit to hold a key: file mode without group/other
    access, S3 SSE-KMS, SSM SecureString.
    """

    content_hash: str
    revision: str | None
    modified: datetime | None
    protected: bool = False


@dataclass(frozen=True)
class Revision:
    """One deployed revision, for `history`."""

    revision: str
    content_hash: str | None  # None when the store cannot tell (e.g. an S3 version we did not write)
    time: datetime | None


@dataclass(frozen=True)
class RevisionText:
    """An earlier revision's text (for `history --redeploy`) and the content hash recorded with it
    when it was written: S3 object metadata, the SSM parameter version's description, the file
    target's history log. None when nothing was recorded (someone else wrote it)."""

    text: str = field(repr=False)  # may hold a key
    recorded_hash: str | None


class Target(Protocol):
    """A deployment target. `write` is idempotent: same content, no write call."""

    @property
    def name(self) -> str:
        """The target's name in the stack file."""

    @property
    def location(self) -> str:
        """Human-readable: a path, s3://bucket/key, ssm:<region>:<parameter>."""

    def read(self) -> Deployed | None:
        """What is deployed now (hash of the real bytes, so edits behind our back show), or None."""

    def read_text(self) -> str | None:
        """The deployed text itself (for diffs; it may hold a key: never print it unmasked), or None."""

    def write(self, rendered: Rendered) -> WriteOutcome:
        """Deploy `rendered` unless `is_current` says it is already there; secret content is
        protected (file 0600, S3 SSE-KMS, SSM SecureString)."""

    def delete(self) -> bool:
        """Remove the deployed config; False when there was nothing to remove."""

    def history(self) -> list[Revision]:
        """Deployed revisions, newest first."""

    def revision_text(self, revision: str) -> RevisionText | None:
        """An earlier revision's text and recorded hash (for `history --redeploy`), or None when
        the target does not have it (file targets record hashes only: just the current one)."""


@dataclass(frozen=True, kw_only=True)
class AwsTarget:
    """What the AWS targets share: their name, region (the partition follows from it), KMS key
    for secret content (None: the account's AWS-managed key) and content hasher. Plain data
    only; a client is made per call."""

    service: ClassVar[str]
    name: str
    region: str
    kms_key_id: str | None = None
    hasher: ContentHasher = PLAIN

    def _client(self) -> Any:
        return aws.client(self.service, self.region)


def is_current(deployed: Deployed | None, rendered: Rendered) -> bool:
    """Whether `deployed` already is `rendered`, protected as it must be: then write nothing.

    Protection counts one way only: content without a key may stay in a protected place, so an
    unchanged config never loses protection it has.
    """
    if deployed is None or deployed.content_hash != rendered.content_hash:
        return False
    return deployed.protected or not rendered.holds_secret


def failure(location: str, action: str, problem: str, fix: str) -> TargetError:
    """The one-line error every target raises: where, what failed, why, and what to do."""
    return TargetError(f"cannot {action}: {problem}", where=location, fix=fix)


def conflict(location: str) -> ConflictError:
    return ConflictError("cannot write: another writer changed it after we read it, so nothing was overwritten",
                         where=location, fix="run again to deploy over the newer version "
                         "(and check who else deploys to it)")


def log_outcome(location: str, outcome: WriteOutcome, rendered: Rendered) -> None:
    """Log a write by content hash and size only: the text may hold a key."""
    level = logging.INFO if outcome == "written" else logging.DEBUG
    log.log(level, "%s: %s (hash %s, %d bytes)", location, outcome, rendered.content_hash[:12], len(rendered.text))


def log_deleted(location: str) -> None:
    log.info("%s: deleted", location)


# --- AWS targets ---------------------------------------------------------------------------


_CONFLICT_CODES = frozenset({
    "PreconditionFailed", "ConditionalRequestConflict", "OperationAborted", "ParameterAlreadyExists",
})


@contextmanager
def aws_errors(location: str, action: str) -> Iterator[None]:
    """Turn botocore failures inside the block into one-line TargetErrors.

    AWS's own message is never copied: a validation message may echo the value we sent.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as error:
        raise _client_failure(location, action, error) from None
    except BotoCoreError as error:
        raise _sdk_failure(location, action, error) from None


def _client_failure(location: str, action: str, error: Any) -> TargetError:
    from kimi_infra.aws import explain_answer

    code = str(error.response.get("Error", {}).get("Code", "unknown"))
    if code in _CONFLICT_CODES:
        return conflict(location)
    return failure(location, action, *explain_answer(error))


def _sdk_failure(location: str, action: str, error: Any) -> TargetError:
    from botocore.exceptions import EndpointConnectionError, NoCredentialsError, ProfileNotFound

    from kimi_infra.aws import FAILURES, classify

    # Only curated fields go into the message: some SDK errors (parameter validation) quote values.
    kind = classify(error)
    if kind == "timeout":
        return failure(location, action, FAILURES[kind][0], FAILURES[kind][1])
    if isinstance(error, EndpointConnectionError):
        return failure(location, action, f"cannot reach {error.kwargs.get('endpoint_url')} ({FAILURES[kind][0]})",
                       FAILURES[kind][1])
    if isinstance(error, NoCredentialsError):
        return failure(location, action, "no AWS credentials found",
                       "set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or run `aws sso login`")
    if isinstance(error, ProfileNotFound):
        return failure(location, action, f"AWS profile {error.kwargs.get('profile')!r} does not exist",
                       "correct AWS_PROFILE or add the profile to ~/.aws/config")
    return failure(location, action, f"the AWS SDK failed ({type(error).__name__})",
                   "check the target in the stack file and your AWS setup")
