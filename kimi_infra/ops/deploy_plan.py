"""`deploy`'s plan: what each target holds against what we would write, drift since our last
deploy, and targets we deployed before that the stack no longer names.

Plain Python over targets (no click). Diffs are masked: a key in a deployed file or in the
rendered config shows as `<masked>`. The record of what we deployed (`deployed.json` in the
stack's state folder) holds target specs and content hashes, never a key.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from kimi_infra.content_hash import PLAIN, ContentHasher
from kimi_infra.masking import mask_keys
from kimi_infra.models import StackSpec, TargetSpec
from kimi_infra.paths import DEPLOY_RECORD, state_dir
from kimi_infra.render import Rendered
from kimi_infra.secret import Secret

Action = Literal["create", "update", "unchanged"]
_OLD_HASH_FIELD = "sha256"  # the record's name for the content hash in kimi-infra 0.2.0
_ALGORITHM_FIELD = "hashAlgorithm"  # absent from 0.2.0 records, whose hashes are plain sha256


@dataclass(frozen=True)
class TargetPlan:
    """One target of the stack: what `deploy` will do to it, and whether it drifted.

    `drift`: it holds something other than what we last deployed there (edited behind our back,
    or deleted), so writing overwrites someone's change.
    """

    name: str
    location: str
    action: Action
    drift: bool
    holds_keys: bool
    deployed_hash: str | None
    rendered_hash: str
    diff: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "location": self.location, "action": self.action, "drift": self.drift,
                "holdsKeys": self.holds_keys, "deployedSha256": self.deployed_hash,
                "renderedSha256": self.rendered_hash, "diff": self.diff}


@dataclass(frozen=True)
class Orphan:
    """A target we deployed before that the stack no longer names (its content may hold keys
    that later rotations no longer update)."""

    name: str
    location: str
    holds_keys: bool
    spec: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "location": self.location, "holdsKeys": self.holds_keys}


@dataclass(frozen=True)
class DeployPlan:
    """Everything `deploy` shows before it writes."""

    stack: str
    rendered: Rendered
    hasher: ContentHasher  # the stack's, salt read once for the plan and the writes
    targets: tuple[TargetPlan, ...]
    orphans: tuple[Orphan, ...]
    outcomes: dict[str, str] = field(default_factory=dict)

    @property
    def drifted(self) -> list[TargetPlan]:
        """Targets whose content changed since our last deploy and would be overwritten."""
        return [t for t in self.targets if t.drift and t.action != "unchanged"]

    @property
    def changes(self) -> list[TargetPlan]:
        return [t for t in self.targets if t.action != "unchanged"]

    def to_json(self, *, applied: bool, pruned: list[str] | None = None) -> dict[str, Any]:
        document: dict[str, Any] = {
            "stack": self.stack, "applied": applied, "hashAlgorithm": self.hasher.algorithm,
            "renderedSha256": self.rendered.content_hash,
            "targets": [t.to_json() for t in self.targets],
            "removedFromStack": [dict(o.to_json(), pruned=o.name in (pruned or [])) for o in self.orphans],
        }
        if applied:
            document["outcomes"] = self.outcomes
        return document


def plan_deploy(spec: StackSpec, project_dir: Path, known_keys: Mapping[str, Secret] | None = None,
                *, preview: bool = False) -> DeployPlan:
    """Read every target (and the record of our last deploy) and compare with the render; writes
    nothing but the stack's salt when it has none yet, and not even that for a `preview`."""
    from kimi_infra.deploy import content_hasher, keyed_hasher, render_for_deploy
    from kimi_infra.render import render_masked
    from kimi_infra.targets import open_stack_target

    hasher = content_hasher(spec, project_dir, read_only=preview)
    rendered = render_for_deploy(spec, project_dir, known_keys=known_keys, hasher=hasher)
    shown = render_masked(spec).text
    record = read_record(project_dir, spec.stack)
    targets = [open_stack_target(spec, target_spec, project_dir, hasher) for target_spec in spec.targets]
    compare = _RecordComparer(hasher, lambda: keyed_hasher(spec, project_dir, read_only=True))
    plans = tuple(_target_plan(target, rendered, shown, record.get(target.location), compare) for target in targets)
    locations = {target.location for target in targets}
    orphans = tuple(Orphan(entry["name"], location, bool(entry.get("holdsKeys")), entry["spec"])
                    for location, entry in sorted(record.items()) if location not in locations)
    return DeployPlan(spec.stack, rendered, hasher, plans, orphans)


def _target_plan(target: Any, rendered: Rendered, shown: str, last: dict | None,
                 compare: _RecordComparer) -> TargetPlan:
    from kimi_infra.targets.base import is_current

    text = target.read_text()
    deployed = target.read() if text is not None else None
    deployed_hash = deployed.content_hash if deployed else None
    action: Action = "create" if text is None else "unchanged" if is_current(deployed, rendered) else "update"
    drift = last is not None and compare.drifted(last, text, deployed_hash)
    before = "" if text is None else mask_keys(text)
    diff = "" if action == "unchanged" else unified_diff(target.name, before, shown)
    return TargetPlan(target.name, target.location, action, drift, rendered.holds_secret, deployed_hash,
                      rendered.content_hash, diff)


@dataclass(frozen=True)
class _RecordComparer:
    """Tells drift by hashing a target's text as its record entry was hashed: keyMode may have
    changed since (so the stack's hasher is another one), or the record predates keyed hashes.
    These hashes only compare; none is shown or stored."""

    hasher: ContentHasher
    keyed: Callable[[], ContentHasher]  # the stack's salted hasher, read only when a record needs it

    def drifted(self, last: dict, text: str | None, deployed_hash: str | None) -> bool:
        """Whether the target holds other bytes than `last` says we deployed."""
        algorithm = last.get(_ALGORITHM_FIELD, PLAIN.algorithm)
        if text is None:
            now = None
        elif algorithm == PLAIN.algorithm:  # not PLAIN.of_text, which withholds the hash of a text with keys
            now = hashlib.sha256(text.encode("utf-8")).hexdigest()
        elif algorithm == self.hasher.algorithm:
            now = deployed_hash
        else:
            now = self.keyed().of_text(text)
        return now != recorded_hash(last)


def unified_diff(name: str, before: str, after: str, after_label: str = "rendered") -> str:
    """The diff of two (already masked) texts of target `name`."""
    lines = difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                 fromfile=f"{name} (deployed)", tofile=f"{name} ({after_label})")
    return "".join(lines)


def apply_plan(plan: DeployPlan, spec: StackSpec, project_dir: Path, *, prune: bool,
               known_keys: Mapping[str, Secret] | None = None,
               progress: Callable[[str, str], None] | None = None) -> list[str]:
    """Write every target (deploy.py's `deploy_all`), remove orphans when `prune`, and record
    what was deployed. Returns the names of the orphans removed."""
    from kimi_infra.deploy import deploy_all

    plan.outcomes.update(deploy_all(spec, project_dir, progress=progress, known_keys=known_keys, hasher=plan.hasher))
    pruned: list[str] = []
    for orphan in (plan.orphans if prune else ()):
        _remove(orphan, spec, project_dir, progress)
        pruned.append(orphan.name)
    kept = {o.location: _entry(o.name, o.spec, o.holds_keys) for o in plan.orphans if o.name not in pruned}
    for target_spec, target_plan in zip(spec.targets, plan.targets, strict=True):
        kept[target_plan.location] = _entry(target_spec.name, target_spec.model_dump(exclude_none=True),
                                            plan.rendered.holds_secret, plan.rendered.content_hash,
                                            plan.hasher.algorithm)
    write_record(project_dir, spec.stack, kept)
    return pruned


def record_deployed(project_dir: Path, stack: str, locations: Iterable[str], content_hash: str,
                    algorithm: str) -> None:
    """Note that `locations` now hold `content_hash` (taken with `algorithm`) by our hand (a
    redeploy, a rotation), so it is not drift later. Locations not in the record stay out."""
    record = read_record(project_dir, stack)
    mine = [location for location in locations if location in record]
    for location in mine:
        record[location].pop(_OLD_HASH_FIELD, None)
        record[location].update({"contentHash": content_hash, _ALGORITHM_FIELD: algorithm})
    if mine:
        write_record(project_dir, stack, record)


def _remove(orphan: Orphan, spec: StackSpec, project_dir: Path, progress: Callable[[str, str], None] | None) -> None:
    from pydantic import TypeAdapter

    from kimi_infra.targets import open_stack_target

    # Deleting compares nothing, so no hash (and no salt) is needed.
    target = open_stack_target(spec, TypeAdapter(TargetSpec).validate_python(orphan.spec), project_dir, PLAIN)
    removed = target.delete()
    if progress:
        progress(orphan.location, "removed" if removed else "already gone")


def _entry(name: str, spec: dict, holds_keys: bool, content_hash: str | None = None,
           algorithm: str | None = None) -> dict[str, Any]:
    entry = {"name": name, "spec": spec, "holdsKeys": holds_keys, "contentHash": content_hash}
    return {**entry, _ALGORITHM_FIELD: algorithm} if algorithm else entry


def recorded_hash(entry: dict) -> str | None:
    """The content hash a record entry says we deployed."""
    return entry.get("contentHash", entry.get(_OLD_HASH_FIELD))


def record_path(project_dir: Path, stack: str) -> Path:
    """Where `deploy` records what it deployed to which target."""
    return state_dir(project_dir, stack) / DEPLOY_RECORD


def read_record(project_dir: Path, stack: str) -> dict[str, dict]:
    """Target location -> {name, spec, holdsKeys, contentHash} of our last deploy; empty before the first."""
    from kimi_infra.errors import KimiInfraError

    path = record_path(project_dir, stack)
    try:
        return json.loads(path.read_text(encoding="utf-8"))["targets"]
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, TypeError):
        raise KimiInfraError("is not a deploy record", where=str(path),
                             fix="delete it (the next deploy writes a new one)") from None


def write_record(project_dir: Path, stack: str, targets: dict[str, dict]) -> None:
    """Write the record atomically (0644: hashes and target specs, no key)."""
    from kimi_infra.atomic import write_atomic

    text = json.dumps({"targets": targets}, indent=2, sort_keys=True) + "\n"
    write_atomic(record_path(project_dir, stack), text.encode("utf-8"), 0o644)
