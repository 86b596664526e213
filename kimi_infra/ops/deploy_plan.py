"""`deploy`'s plan: what each target holds against what we would write, drift since our last
deploy, and targets we deployed before that the stack no longer names.

Plain Python over targets (no click). Diffs are masked: a key in a deployed file or in the
rendered config shows as `<masked>`. The record of what we deployed (`deployed.json` in the
stack's state folder, `kimi_infra.deploy_record`) holds target specs and content hashes, never a
key. A target that exists but that this stack's deploy never wrote counts as drift (`foreign`);
a target the stack no longer names is removed by --prune only where `kimi_infra.ownership` says it
is still ours.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from kimi_infra.content_hash import ContentHasher
from kimi_infra.deploy_record import RecordEntry, read_record, record_deployed, record_path, write_record
from kimi_infra.masking import mask_keys
from kimi_infra.models import StackSpec
from kimi_infra.ownership import Keep, Written, hash_as_written, keep_reason
from kimi_infra.render import Rendered
from kimi_infra.secret import Secret

if TYPE_CHECKING:
    from kimi_infra.deploy import Deployment

__all__ = ["DeployPlan", "Orphan", "TargetPlan", "apply_plan", "plan_deploy", "read_record", "record_deployed",
           "record_path", "unified_diff", "write_record"]

Action = Literal["create", "update", "unchanged"]


@dataclass(frozen=True)
class TargetPlan:
    """One target of the stack: what `deploy` will do to it, and whether it drifted.

    `drift`: it holds something other than what we last deployed there (edited behind our back,
    or deleted), so writing overwrites someone's change. `foreign`: the drift is a target this
    stack's deploy never wrote (a hand-kept file, someone's object) that holds other content.
    """

    name: str
    location: str
    action: Action
    drift: bool
    holds_keys: bool
    deployed_hash: str | None
    rendered_hash: str
    diff: str
    foreign: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "location": self.location, "action": self.action, "drift": self.drift,
                "foreign": self.foreign, "holdsKeys": self.holds_keys, "deployedSha256": self.deployed_hash,
                "renderedSha256": self.rendered_hash, "diff": self.diff}


@dataclass(frozen=True)
class Orphan:
    """A target we deployed before that the stack no longer names (its content may hold keys
    that later rotations no longer update). `keep`: why --prune must not remove it (None: ours)."""

    location: str
    entry: RecordEntry
    keep: Keep | None = None

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def holds_keys(self) -> bool:
        return self.entry.holdsKeys

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "location": self.location, "holdsKeys": self.holds_keys,
                "keptBecause": self.keep.reason if self.keep else None}


@dataclass
class DeployPlan:
    """Everything `deploy` shows before it writes, and (`deployment`, set by `apply_plan`) what it wrote."""

    stack: str
    rendered: Rendered
    hasher: ContentHasher  # the stack's, salt read once for the plan and the writes
    targets: tuple[TargetPlan, ...]
    orphans: tuple[Orphan, ...]
    deployment: Deployment | None = None

    @property
    def outcomes(self) -> dict[str, str]:
        """Target name -> what the write did (empty before `apply_plan`)."""
        return self.deployment.outcomes if self.deployment else {}

    @property
    def drifted(self) -> list[TargetPlan]:
        """Targets whose content changed since our last deploy and would be overwritten."""
        return [t for t in self.targets if t.drift and t.action != "unchanged"]

    @property
    def changes(self) -> list[TargetPlan]:
        return [t for t in self.targets if t.action != "unchanged"]

    @property
    def unowned(self) -> list[Orphan]:
        """Orphans that are not ours to remove (whatever the user says): dropped from the record."""
        return [o for o in self.orphans if o.keep and o.keep.final]

    @property
    def doubtful(self) -> list[Orphan]:
        """Orphans whose content is not what we wrote: removed only when the user confirms."""
        return [o for o in self.orphans if o.keep and not o.keep.final]

    def to_json(self, *, applied: bool, pruned: list[str] | None = None) -> dict[str, Any]:
        document: dict[str, Any] = {
            "stack": self.stack, "applied": applied, "hashAlgorithm": self.hasher.algorithm,
            "renderedSha256": self.rendered.content_hash,
            "targets": [t.to_json() for t in self.targets],
            "removedFromStack": [dict(o.to_json(), pruned=o.location in (pruned or [])) for o in self.orphans],
        }
        if applied and self.deployment:
            document["outcomes"] = self.outcomes
            # What was written: the plan's render, or a later one if a rotation made the deploy write again.
            document["writtenSha256"] = self.deployment.rendered.content_hash
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
    orphans = tuple(_orphan(spec, project_dir, location, entry, compare)
                    for location, entry in sorted(record.items()) if location not in locations)
    return DeployPlan(spec.stack, rendered, hasher, plans, orphans)


def _orphan(spec: StackSpec, project_dir: Path, location: str, entry: RecordEntry,
            compare: _RecordComparer) -> Orphan:
    """A record entry the stack no longer names, with why it must be kept (if it must)."""
    from kimi_infra.targets import open_stack_target

    target = open_stack_target(spec, entry.spec, project_dir, compare.hasher)
    written = Written(entry.contentHash, entry.hashAlgorithm)
    return Orphan(location, entry, keep_reason(spec, entry.spec, target, project_dir, [written], compare.keyed))


def _target_plan(target: Any, rendered: Rendered, shown: str, last: RecordEntry | None,
                 compare: _RecordComparer) -> TargetPlan:
    from kimi_infra.targets.base import is_current

    text = target.read_text()
    deployed = target.read() if text is not None else None
    deployed_hash = deployed.content_hash if deployed else None
    action: Action = "create" if text is None else "unchanged" if is_current(deployed, rendered) else "update"
    # Never written by this stack's deploy, and holding other content: overwriting it is drift too.
    foreign = last is None and deployed is not None and deployed.content_hash != rendered.content_hash
    drift = foreign or (last is not None and compare.drifted(last, text, deployed_hash))
    before = "" if text is None else mask_keys(text)
    diff = "" if action == "unchanged" else unified_diff(target.name, before, shown)
    return TargetPlan(target.name, target.location, action, drift, rendered.holds_secret, deployed_hash,
                      rendered.content_hash, diff, foreign)


@dataclass(frozen=True)
class _RecordComparer:
    """Tells drift by hashing a target's text as its record entry was hashed: keyMode may have
    changed since (so the stack's hasher is another one), or the record predates keyed hashes.
    These hashes only compare; none is shown or stored."""

    hasher: ContentHasher
    keyed: Callable[[], ContentHasher]  # the stack's salted hasher, read only when a record needs it

    def drifted(self, last: RecordEntry, text: str | None, deployed_hash: str | None) -> bool:
        """Whether the target holds other bytes than `last` says we deployed."""
        if text is None:
            now = None
        elif last.hashAlgorithm == self.hasher.algorithm and self.hasher.salt is not None:
            now = deployed_hash  # already taken with the stack's salt: no second HMAC
        else:
            now = hash_as_written(text, last.hashAlgorithm, self.keyed)
        return now != last.contentHash


def unified_diff(name: str, before: str, after: str, after_label: str = "rendered") -> str:
    """The diff of two (already masked) texts of target `name`."""
    lines = difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                 fromfile=f"{name} (deployed)", tofile=f"{name} ({after_label})")
    return "".join(lines)


def apply_plan(plan: DeployPlan, spec: StackSpec, project_dir: Path, *, prune: bool, confirmed: bool = False,
               known_keys: Mapping[str, Secret] | None = None,
               progress: Callable[[str, str], None] | None = None,
               say: Callable[[str], None] | None = None) -> list[str]:
    """Write every target (deploy.py's `deploy_all`: again while a rotation changes the keys under
    it, saying so through `say`), remove orphans when `prune`, and record what was deployed (the
    last render). Returns the locations of the orphans removed.

    Only orphans that are ours are removed: `confirmed` (--yes, or a yes at the prompt) also
    removes those whose content is not what we wrote (`plan.doubtful`); those not ours at all
    (`plan.unowned`: a path rule, another stack's target) are never removed and leave the record.
    """
    from kimi_infra.deploy import deploy_all

    plan.deployment = deployed = deploy_all(spec, project_dir, progress=progress, known_keys=known_keys,
                                            hasher=plan.hasher, say=say)
    pruned: list[str] = []
    removable = [o for o in plan.orphans if not o.keep or (confirmed and not o.keep.final)]
    for orphan in (removable if prune else ()):
        _remove(orphan, spec, project_dir, progress)
        pruned.append(orphan.location)
    dropped = {o.location for o in plan.unowned} if prune else set()
    kept = {o.location: o.entry for o in plan.orphans if o.location not in pruned and o.location not in dropped}
    for target_spec, target_plan in zip(spec.targets, plan.targets, strict=True):
        kept[target_plan.location] = RecordEntry(name=target_spec.name, spec=target_spec,
                                                 holdsKeys=plan.rendered.holds_secret,
                                                 contentHash=deployed.rendered.content_hash,
                                                 hashAlgorithm=plan.hasher.algorithm)
    write_record(project_dir, spec.stack, kept)
    return pruned


def _remove(orphan: Orphan, spec: StackSpec, project_dir: Path, progress: Callable[[str, str], None] | None) -> None:
    from kimi_infra.content_hash import PLAIN
    from kimi_infra.targets import open_stack_target

    # keep_reason has compared the content already, so no hash (and no salt) is needed.
    target = open_stack_target(spec, orphan.entry.spec, project_dir, PLAIN)
    removed = target.delete()
    if progress:
        progress(orphan.location, "removed" if removed else "already gone")
