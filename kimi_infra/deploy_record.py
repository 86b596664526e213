"""The deploy record: what `deploy` last wrote where (`.kimi-infra/<stack>/deployed.json`).

A versioned, validated model. `--prune` removes only what the record lists, and only after the
removal checks (`kimi_infra.ownership`), so an entry that does not make sense is refused before
anything is read: a missing or malformed `spec`, or a `spec` that names another place than the
entry's location. Records written before the version field (kimi-infra 0.2 and 0.3) are read and
upgraded; the next write stores the current version. Hashes and target specs only, never a key.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from kimi_infra.errors import KimiInfraError, validation_to_spec_error
from kimi_infra.models import TargetSpec
from kimi_infra.paths import DEPLOY_RECORD, state_dir

RECORD_VERSION = 2
"""1: no version field (the hash as `sha256` in 0.2, as `contentHash` + `hashAlgorithm` in 0.3)."""
_FIX = "restore the file from a backup, or delete it (the next deploy writes a new one; the targets it " \
       "listed are then no longer offered for --prune)"


class RecordEntry(BaseModel):
    """One target we deployed: its stack-file spec, whether its content held keys, and the hash
    (taken with `hashAlgorithm`) of what we wrote there; None when we do not know it."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    name: str
    spec: TargetSpec
    holdsKeys: bool = False
    contentHash: str | None = None
    hashAlgorithm: Annotated[str, Field(pattern="^(sha256|hmac-sha256)$")] = "sha256"  # ContentHasher.algorithm

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        """kimi-infra 0.2.0 named the (plain sha256) hash `sha256`."""
        if not isinstance(data, dict) or "sha256" not in data:
            return data
        upgraded = {key: value for key, value in data.items() if key != "sha256"}
        upgraded["contentHash"] = data.get("contentHash") or data["sha256"]
        return upgraded


class DeployRecord(BaseModel):
    """Location (a path, s3://bucket/key, ssm:region:name) -> what we deployed there."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    version: Annotated[int, Field(ge=1, le=RECORD_VERSION)] = RECORD_VERSION
    targets: dict[str, RecordEntry] = Field(default_factory=dict)


def record_path(project_dir: Path, stack: str) -> Path:
    """Where `deploy` records what it deployed to which target."""
    return state_dir(project_dir, stack) / DEPLOY_RECORD


def read_record(project_dir: Path, stack: str) -> dict[str, RecordEntry]:
    """Location -> entry of our last deploy; empty before the first. KimiInfraError (exit 2, one
    line naming the file and the fix) for a record that is not one of ours or does not hold together."""
    path = record_path(project_dir, stack)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        raise KimiInfraError("is not a deploy record (not JSON text)", where=str(path), fix=_FIX) from None
    if isinstance(document, dict) and isinstance(document.get("version"), int) \
            and document["version"] > RECORD_VERSION:
        raise KimiInfraError(f"is a version {document['version']} deploy record, newer than this kimi-infra "
                             f"reads ({RECORD_VERSION})", where=str(path), fix="upgrade kimi-infra")
    try:
        record = DeployRecord.model_validate(_upgrade(document))
    except ValidationError as error:
        first = validation_to_spec_error(error)
        raise KimiInfraError(f"{_entry_field(error, first.field)}: {first.problem}", where=str(path),
                             fix=_FIX) from None
    for location, entry in record.targets.items():
        _check_location(path, project_dir, location, entry)
    return dict(record.targets)


def _entry_field(error: ValidationError, field: str) -> str:
    """`targets['<location>'].spec` rather than `targets.<location>.spec`: a location holds dots."""
    loc = error.errors(include_url=False, include_input=False)[0]["loc"]
    if len(loc) < 2 or loc[0] != "targets":
        return field
    return f"targets[{str(loc[1])!r}]" + field.removeprefix(f"targets.{loc[1]}")


def _upgrade(document: Any) -> Any:
    """A version 1 record (no version field) reads as the current one: same shape."""
    if isinstance(document, dict) and "version" not in document:
        return {**document, "version": RECORD_VERSION}
    return document


def _check_location(path: Path, project_dir: Path, location: str, entry: RecordEntry) -> None:
    """Refuse an entry whose spec names another place than its location (an edited record)."""
    from kimi_infra.targets import open_target

    try:
        named = open_target(entry.spec, project_dir).location
    except KimiInfraError as error:
        raise KimiInfraError(f"targets[{location!r}].spec: {error.problem}", where=str(path), fix=_FIX) from None
    if named != location:
        raise KimiInfraError(f"targets[{location!r}]: its spec names {named}, not this location",
                             where=str(path), fix=_FIX)


def write_record(project_dir: Path, stack: str, targets: dict[str, RecordEntry]) -> None:
    """Write the record atomically (0644: hashes and target specs, no key), at the current version."""
    from kimi_infra.atomic import write_atomic

    document = DeployRecord(targets=targets).model_dump(mode="json", exclude_none=True)
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    write_atomic(record_path(project_dir, stack), text.encode("utf-8"), 0o644)


def record_deployed(project_dir: Path, stack: str, locations: Iterable[str], content_hash: str,
                    algorithm: str) -> None:
    """Note that `locations` now hold `content_hash` (taken with `algorithm`) by our hand (a
    redeploy, a rotation), so it is not drift later. Locations not in the record stay out."""
    record = read_record(project_dir, stack)
    mine = [location for location in locations if location in record]
    for location in mine:
        record[location] = record[location].model_copy(update={"contentHash": content_hash,
                                                               "hashAlgorithm": algorithm})
    if mine:
        write_record(project_dir, stack, record)
