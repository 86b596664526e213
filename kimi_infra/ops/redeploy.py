"""`history --redeploy`: put an earlier revision of one target back, after showing the diff.

The revision's text comes from the target's own history (an S3 object version, an SSM parameter
version); file targets record hashes only, so they cannot go back. Plain Python (no click).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kimi_infra.content_hash import ContentHasher
from kimi_infra.errors import KimiInfraError
from kimi_infra.models import StackSpec
from kimi_infra.render import Rendered


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
    from kimi_infra.masking import holds_key, mask_keys
    from kimi_infra.ops.deploy_plan import unified_diff
    from kimi_infra.ops.history import select_targets
    from kimi_infra.targets import open_stack_target

    hasher = content_hasher(spec, project_dir)
    target = open_stack_target(spec, select_targets(spec, target_name)[0], project_dir, hasher)
    text = target.revision_text(revision)
    if text is None:
        raise KimiInfraError(f"has no revision {revision!r} to put back", where=f"{target.name} ({target.location})",
                             fix=f"pick one from `kimi-infra history --stack {spec.stack} --target {target.name}` "
                             "(file targets keep hashes only: they cannot go back)")
    holds_keys = holds_key(text)
    if holds_keys and hasher.salt is None:
        raise KimiInfraError(f"revision {revision} holds keys, but the stack's keyMode is {spec.keyMode}",
                             where=f"{target.name} ({target.location})",
                             fix="set kimi-infra:keyMode: inline in the stack file first, or pick a revision "
                             "without keys")
    current = target.read_text() or ""
    diff = unified_diff(target.name, mask_keys(current), mask_keys(text), f"revision {revision}")
    rendered = Rendered(text, hasher.of_text(text), holds_keys)
    return Redeploy(spec.stack, target, revision, rendered, diff, hasher)


def apply_redeploy(plan: Redeploy, project_dir: Path) -> str:
    """Write the revision (protected when it holds a key) and record it as what we deployed."""
    from kimi_infra.ops.deploy_plan import record_deployed

    outcome = plan.target.write(plan.rendered)
    record_deployed(project_dir, plan.stack, [plan.target.location], plan.rendered.content_hash,
                    plan.hasher.algorithm)
    return outcome
