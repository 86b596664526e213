"""`history --redeploy`: put an earlier revision of one target back, after showing the diff.

The revision's text comes from the target's own history (an S3 object version, an SSM parameter
version); file targets record hashes only, so they cannot go back. Plain Python (no click).

Two refusals keep a redeploy from undoing what rotation and our writes guarantee (one line each,
nothing written):
- a revision kimi-infra did not write: its recorded hash (S3 metadata, SSM version description,
  history log) is missing or is not the hash of its text. For a revision that holds keys the
  hash is keyed with the stack's secret salt, so nobody without it can make one that matches;
- a revision holding a key that is not a current key of the stack (rotated out, maybe revoked).
  It is refused rather than re-keyed: `deploy` already writes today's keys with today's config.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kimi_infra.content_hash import PLAIN, ContentHasher
from kimi_infra.errors import KimiInfraError
from kimi_infra.masking import holds_key, key_values, mask_keys
from kimi_infra.models import StackSpec
from kimi_infra.render import Rendered
from kimi_infra.targets.base import RevisionText


@dataclass(frozen=True)
class Redeploy:
    """The revision to put back on one target, and the masked diff from what it holds now."""

    stack: str
    target: Any
    revision: str
    rendered: Rendered
    diff: str
    hasher: ContentHasher

    @property
    def changes(self) -> bool:
        return self.target.read_text() != self.rendered.text

    def to_json(self, *, applied: bool, outcome: str | None = None) -> dict[str, Any]:
        return {"stack": self.stack, "target": self.target.name, "location": self.target.location,
                "revision": self.revision, "hashAlgorithm": self.hasher.algorithm,
                "sha256": self.rendered.content_hash, "diff": self.diff,
                "applied": applied, "outcome": outcome}


def plan_redeploy(spec: StackSpec, project_dir: Path, target_name: str, revision: str) -> Redeploy:
    """Read the revision and the current content; KimiInfraError (nothing written) if there is no such revision."""
    from kimi_infra.deploy import content_hasher
    from kimi_infra.ops.deploy_plan import unified_diff
    from kimi_infra.ops.history import select_targets
    from kimi_infra.targets import open_stack_target

    hasher = content_hasher(spec, project_dir)
    target = open_stack_target(spec, select_targets(spec, target_name)[0], project_dir, hasher)
    where = f"{target.name} ({target.location})"
    found = target.revision_text(revision)
    if found is None:
        raise KimiInfraError(f"has no revision {revision!r} to put back", where=where,
                             fix=f"pick one from `kimi-infra history --stack {spec.stack} --target {target.name}` "
                             "(file targets keep hashes only: they cannot go back)")
    text = found.text
    holds_keys = holds_key(text)
    if holds_keys and hasher.salt is None:
        raise KimiInfraError(f"revision {revision} holds keys, but the stack's keyMode is {spec.keyMode}",
                             where=where,
                             fix="set kimi-infra:keyMode: inline in the stack file first, or pick a revision "
                             "without keys")
    _refuse_foreign(found, hasher, revision, where, spec.stack)
    if holds_keys:
        _refuse_old_keys(spec, project_dir, text, revision, where)
    current = target.read_text() or ""
    diff = unified_diff(target.name, mask_keys(current), mask_keys(text), f"revision {revision}")
    rendered = Rendered(text, hasher.of_text(text), holds_keys)
    return Redeploy(spec.stack, target, revision, rendered, diff, hasher)


def _refuse_foreign(found: RevisionText, hasher: ContentHasher, revision: str, where: str, stack: str) -> None:
    """Refuse a revision whose recorded hash is missing or is not its text's: kimi-infra did not
    write it (a hand upload, another tool, an edit). A keyless revision may carry the plain
    sha256 of a stack that was not inline then; a revision with keys needs the keyed hash."""
    accepted = {hasher.of_text(found.text)}
    if not holds_key(found.text):
        accepted.add(PLAIN.of_text(found.text))
    recorded = found.recorded_hash or ""
    if any(hmac.compare_digest(recorded, ours) for ours in accepted):
        return
    problem = "carries no content hash of ours" if not recorded else "has a content hash that is not its content's"
    raise KimiInfraError(f"revision {revision} was not written by kimi-infra ({problem})", where=where,
                         fix=f"pick a revision kimi-infra deployed, or run `kimi-infra deploy --stack {stack}`")


def _refuse_old_keys(spec: StackSpec, project_dir: Path, text: str, revision: str, where: str) -> None:
    """Refuse a revision holding a key that is not a current key of the stack, compared in memory
    (the masked diff cannot show it): putting it back would undo a rotation."""
    from kimi_infra.deploy import current_keys

    current = set(current_keys(spec, project_dir).values())
    if all(value in current for value in key_values(text)):
        return
    raise KimiInfraError(f"revision {revision} holds a key that is no longer current (rotated out since, perhaps "
                         "revoked): a redeploy never brings back a key", where=where,
                         fix=f"run `kimi-infra deploy --stack {spec.stack}` (today's keys), or pick a revision "
                         "written since the last rotation")


def apply_redeploy(plan: Redeploy, project_dir: Path) -> str:
    """Write the revision (protected when it holds a key) and record it as what we deployed."""
    from kimi_infra.deploy_record import record_deployed

    outcome = plan.target.write(plan.rendered)
    record_deployed(project_dir, plan.stack, [plan.target.location], plan.rendered.content_hash,
                    plan.hasher.algorithm)
    return outcome
