"""`status`: is each target what `pulumi up` would write now, and is a key rotation under way?

Plain Python over targets and stores; it prints nothing (the CLI formats). Rendering in inline
mode uses the store's current keys, so a rotated key whose targets were not rewritten shows as
drift. Only content hashes (keyed when the config holds a key), version ids and dates leave
this module, never a key.

A failure to read one target or one key is that item's `error` state with a one-line message,
never an exception: the report is always whole, so `status --json` always prints a document.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from kimi_infra.content_hash import PLAIN, ContentHasher
from kimi_infra.errors import KimiInfraError
from kimi_infra.models import StackSpec, TargetSpec
from kimi_infra.render import Rendered

TargetState = Literal["in-sync", "drifted", "missing", "unknown", "error"]
KeyState = Literal["ok", "pending", "missing", "not-stored", "error"]
"""`not-stored`: a reference-mode key that is not in the store, which that mode does not need."""
EXIT_IN_SYNC, EXIT_OUT_OF_SYNC, EXIT_ERROR = 0, 1, 2
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
    deployed_hash: str | None
    rendered_hash: str | None  # None when the config could not be rendered (state `unknown`)
    revision: str | None
    protected: bool | None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "location": self.location, "state": self.state,
                "deployedSha256": self.deployed_hash, "renderedSha256": self.rendered_hash,
                "revision": self.revision, "protected": self.protected, "error": self.error}


@dataclass(frozen=True)
class KeyStatus:
    """One provider's secret: its current version, that version's age, and a pending version;
    and the base URL the stack's gateways use for the provider (`custom`: from kimi-infra:baseUrls)."""

    provider: str
    secret: str
    current_version: str | None
    age_seconds: int | None
    pending: str | None
    state: KeyState = "ok"
    error: str | None = None
    base_url: str = ""  # where the stack's gateways reach the provider
    custom_base_url: bool = False  # from kimi-infra:baseUrls (else the catalog's)

    @property
    def settled(self) -> bool:
        """A current version and no rotation half done (or a key its mode does not need)."""
        return self.state in ("ok", "not-stored")

    def to_json(self) -> dict[str, Any]:
        return {"provider": self.provider, "secret": self.secret, "state": self.state,
                "currentVersion": self.current_version, "ageSeconds": self.age_seconds, "pending": self.pending,
                "error": self.error, "baseUrl": self.base_url,
                "customBaseUrl": self.custom_base_url}


@dataclass(frozen=True)
class StackStatus:
    """The whole report for one stack."""

    stack: str
    targets: tuple[TargetStatus, ...]
    keys: tuple[KeyStatus, ...]
    hash_algorithm: str = PLAIN.algorithm  # of every content hash in the report

    @property
    def in_sync(self) -> bool:
        """Every target in sync and every key settled: the CLI exits 0 exactly then."""
        return all(t.state == "in-sync" for t in self.targets) and all(k.settled for k in self.keys)

    @property
    def errors(self) -> list[str]:
        """The one-line message of every item whose check failed."""
        items: list[TargetStatus | KeyStatus] = [*self.targets, *self.keys]
        return [item.error for item in items if item.state == "error" and item.error]

    @property
    def exit_code(self) -> int:
        """0 in sync; 1 drift, missing or pending; 2 when a check itself failed."""
        if self.errors:
            return EXIT_ERROR
        return EXIT_IN_SYNC if self.in_sync else EXIT_OUT_OF_SYNC

    def to_json(self) -> dict[str, Any]:
        return {"stack": self.stack, "inSync": self.in_sync, "exitCode": self.exit_code,
                "hashAlgorithm": self.hash_algorithm,
                "targets": [t.to_json() for t in self.targets], "keys": [k.to_json() for k in self.keys]}


def stack_status(spec: StackSpec, project_dir: Path, progress: Progress | None = None,
                 now: datetime | None = None) -> StackStatus:
    """Read every target and every enabled provider's secret; a failed read is an `error` item."""
    from kimi_infra.assemble import enabled_providers
    from kimi_infra.deploy import content_hasher, render_for_deploy

    report = progress or (lambda _: None)
    moment = now or datetime.now(UTC)
    keys = tuple(key_status(spec, info.name, project_dir, moment, report) for info in enabled_providers(spec))
    hasher = PLAIN
    try:
        hasher = content_hasher(spec, project_dir, read_only=True)
        rendered: Rendered | str = render_for_deploy(spec, project_dir, hasher=hasher)
    except KimiInfraError as error:  # inline mode without a readable store: nothing to compare with
        rendered = f"cannot render the config to compare: {error}"
    targets = tuple(target_status(spec, target_spec, project_dir, rendered, hasher, report)
                    for target_spec in spec.targets)
    return StackStatus(spec.stack, targets, keys, hasher.algorithm)


def target_status(spec: StackSpec, target_spec: TargetSpec, project_dir: Path, rendered: Rendered | str,
                  hasher: ContentHasher, progress: Progress) -> TargetStatus:
    """Compare what the target holds now (the hash of its real bytes) with `rendered` (or, when
    that is a message, say why no comparison was possible)."""
    from kimi_infra.targets import open_stack_target
    from kimi_infra.targets.base import is_current

    target = open_stack_target(spec, target_spec, project_dir, hasher)
    progress(f"checking {target.name} ({target.location})")
    if isinstance(rendered, str):
        return TargetStatus(target.name, target.location, "unknown", None, None, None, None, rendered)
    try:
        deployed = target.read()
    except KimiInfraError as error:
        return TargetStatus(target.name, target.location, "error", None, rendered.content_hash, None, None, str(error))
    if deployed is None:
        return TargetStatus(target.name, target.location, "missing", None, rendered.content_hash, None, None)
    state: TargetState = "in-sync" if is_current(deployed, rendered) else "drifted"
    return TargetStatus(target.name, target.location, state, deployed.content_hash, rendered.content_hash,
                        deployed.revision, deployed.protected)


def key_status(spec: StackSpec, provider: str, project_dir: Path, now: datetime, progress: Progress) -> KeyStatus:
    """The provider's secret as the store describes it (versions and dates, never values)."""
    from kimi_infra.base_urls import base_url
    from kimi_infra.catalog import provider as provider_info
    from kimi_infra.stores import SecretNotFoundError, open_store

    store = open_store(spec, provider, project_dir)
    url, custom = base_url(spec, provider_info(provider)), provider in spec.baseUrls
    progress(f"checking key {provider} ({store.name})")
    try:
        description = store.describe()
    except SecretNotFoundError as error:
        state: KeyState = "not-stored" if spec.files_reference_env else "missing"
        return KeyStatus(provider, store.name, None, None, None, state, str(error), base_url=url,
                         custom_base_url=custom)
    except KimiInfraError as error:
        return KeyStatus(provider, store.name, None, None, None, "error", str(error), base_url=url,
                         custom_base_url=custom)
    current, pending = description.version_in("current"), description.version_in("pending")
    state = "pending" if pending else "ok" if current else "missing"
    return KeyStatus(
        provider=provider,
        secret=store.name,
        current_version=current.version_id if current else None,
        age_seconds=_age_seconds(current.created, now) if current and current.created else None,
        pending=pending.version_id if pending else None,
        state=state,
        base_url=url,
        custom_base_url=custom,
    )


def _age_seconds(created: datetime, now: datetime) -> int:
    # A store clock slightly ahead of ours must not make a version "-3 seconds old".
    return max(0, int((now - created).total_seconds()))
