"""`history`: the revisions deployed to each target of a stack, newest first.

Each target keeps its own record (S3 object versions, SSM parameter history, the local history
file under `.kimi-infra/<stack>/history/`); this module only selects targets and collects them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kimi_infra.errors import KimiInfraError
from kimi_infra.models import StackSpec, TargetSpec
from kimi_infra.targets.base import Revision


@dataclass(frozen=True)
class TargetHistory:
    """One target's deployed revisions, newest first."""

    name: str
    location: str
    revisions: tuple[Revision, ...]
    hash_algorithm: str  # of the revisions' content hashes

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "location": self.location, "hashAlgorithm": self.hash_algorithm,
                "revisions": [{"revision": r.revision, "sha256": r.content_hash, "time": iso_time(r.time)}
                              for r in self.revisions]}


def stack_history(spec: StackSpec, project_dir: Path, target_name: str | None = None,
                  progress: Callable[[str], None] | None = None) -> list[TargetHistory]:
    """The history of every target of the stack, or of the one named `target_name`."""
    from kimi_infra.deploy import content_hasher
    from kimi_infra.targets import open_stack_target

    hasher = content_hasher(spec, project_dir, read_only=True)
    histories = []
    for target_spec in select_targets(spec, target_name):
        target = open_stack_target(spec, target_spec, project_dir, hasher)
        if progress:
            progress(f"reading history of {target.name} ({target.location})")
        histories.append(TargetHistory(target.name, target.location, tuple(target.history()), hasher.algorithm))
    return histories


def select_targets(spec: StackSpec, name: str | None) -> list[TargetSpec]:
    """All targets, or the one called `name`; an unknown name is an error listing the known ones."""
    if name is None:
        return list(spec.targets)
    chosen = [t for t in spec.targets if t.name == name]
    if not chosen:
        from kimi_infra.paths import stack_file

        known = ", ".join(t.name for t in spec.targets)
        raise KimiInfraError(f"no target named {name!r}", where=stack_file(spec.stack), fix=f"use one of: {known}")
    return chosen


def iso_time(moment: datetime | None) -> str | None:
    """UTC, to the second, with a Z: the same spelling whichever store the time came from."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None
