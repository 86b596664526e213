"""`status`: is each target what `pulumi up` would write now, and is a key rotation under way?

Plain Python over targets and stores; it prints nothing (the CLI formats). Rendering in inline
mode uses the store's current keys, so a rotated key whose targets were not rewritten shows as
drift. Only hashes, version ids and dates leave this module, never a key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from kimi_infra.models import StackSpec, TargetSpec
from kimi_infra.render import Rendered

TargetState = Literal["in-sync", "drifted", "missing"]
Progress = Callable[[str], None]


@dataclass(frozen=True)
class TargetStatus:
    """One target compared with the config rendered now.

    `protected` is None when nothing is deployed. A target with the rendered bytes that holds a
    key without protection (a 0644 file, say) counts as drifted: `pulumi up` would fix it.
    """

    name: str
    location: str
    state: TargetState
    deployed_sha256: str | None
    rendered_sha256: str
    revision: str | None
    protected: bool | None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "location": self.location, "state": self.state,
                "deployedSha256": self.deployed_sha256, "renderedSha256": self.rendered_sha256,
                "revision": self.revision, "protected": self.protected}


@dataclass(frozen=True)
class KeyStatus:
    """One provider's secret: its current version, that version's age, and a pending version."""

    provider: str
    secret: str
    current_version: str | None
    age_seconds: int | None
    pending: str | None

    @property
    def settled(self) -> bool:
        """A current version and no rotation half done."""
        return self.current_version is not None and self.pending is None

    def to_json(self) -> dict[str, Any]:
        return {"provider": self.provider, "secret": self.secret, "currentVersion": self.current_version,
                "ageSeconds": self.age_seconds, "pending": self.pending}


@dataclass(frozen=True)
class StackStatus:
    """The whole report for one stack."""

    stack: str
    targets: tuple[TargetStatus, ...]
    keys: tuple[KeyStatus, ...]

    @property
    def in_sync(self) -> bool:
        """Every target in sync and every key settled: the CLI exits 0 exactly then."""
        return all(t.state == "in-sync" for t in self.targets) and all(k.settled for k in self.keys)

    def to_json(self) -> dict[str, Any]:
        return {"stack": self.stack, "inSync": self.in_sync, "targets": [t.to_json() for t in self.targets],
                "keys": [k.to_json() for k in self.keys]}


def stack_status(spec: StackSpec, project_dir: Path, progress: Progress | None = None,
                 now: datetime | None = None) -> StackStatus:
    """Read every target and every enabled provider's secret; KimiInfraError when a read fails."""
    from kimi_infra.assemble import enabled_providers
    from kimi_infra.deploy import render_for_deploy

    report = progress or (lambda _: None)
    rendered = render_for_deploy(spec, project_dir)
    targets = tuple(target_status(spec, target_spec, project_dir, rendered, report) for target_spec in spec.targets)
    moment = now or datetime.now(UTC)
    keys = tuple(key_status(spec, info.name, project_dir, moment, report) for info in enabled_providers(spec))
    return StackStatus(spec.stack, targets, keys)


def target_status(spec: StackSpec, target_spec: TargetSpec, project_dir: Path, rendered: Rendered,
                  progress: Progress) -> TargetStatus:
    """Compare what the target holds now (the hash of its real bytes) with `rendered`."""
    from kimi_infra.targets import open_stack_target
    from kimi_infra.targets.base import is_current

    target = open_stack_target(spec, target_spec, project_dir)
    progress(f"checking {target.name} ({target.location})")
    deployed = target.read()
    if deployed is None:
        return TargetStatus(target.name, target.location, "missing", None, rendered.sha256, None, None)
    state: TargetState = "in-sync" if is_current(deployed, rendered) else "drifted"
    return TargetStatus(target.name, target.location, state, deployed.sha256, rendered.sha256,
                        deployed.revision, deployed.protected)


def key_status(spec: StackSpec, provider: str, project_dir: Path, now: datetime, progress: Progress) -> KeyStatus:
    """The provider's secret as the store describes it (versions and dates, never values)."""
    from kimi_infra.stores import open_store

    store = open_store(spec, provider, project_dir)
    progress(f"checking key {provider} ({store.name})")
    description = store.describe()
    current, pending = description.version_in("current"), description.version_in("pending")
    return KeyStatus(
        provider=provider,
        secret=store.name,
        current_version=current.version_id if current else None,
        age_seconds=_age_seconds(current.created, now) if current and current.created else None,
        pending=pending.version_id if pending else None,
    )


def _age_seconds(created: datetime, now: datetime) -> int:
    # A store clock slightly ahead of ours must not make a version "-3 seconds old".
    return max(0, int((now - created).total_seconds()))
