"""Render a stack for deployment and write it to targets: shared by `pulumi up`, rotate and status.

Imports no pulumi. In inline mode the keys come from the store's current versions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from kimi_infra.aws import reusing_clients
from kimi_infra.errors import in_file
from kimi_infra.models import StackSpec
from kimi_infra.paths import stack_file
from kimi_infra.render import Rendered, render_masked, render_stack
from kimi_infra.secret import Secret


def render_for_deploy(spec: StackSpec, project_dir: Path, *, masked: bool = False,
                      known_keys: Mapping[str, Secret] | None = None) -> Rendered:
    """The stack's config as deployed; inline keys come from the store (or are masked).

    `known_keys` are current keys the caller already holds (a rotation's new key), not re-read.
    """
    with in_file(stack_file(spec.stack)):
        if not spec.files_hold_keys or masked:
            return render_masked(spec)
        return render_stack(spec, current_keys(spec, project_dir, known_keys))


def current_keys(spec: StackSpec, project_dir: Path,
                 known_keys: Mapping[str, Secret] | None = None) -> dict[str, Secret]:
    """Each enabled provider's current key: from `known_keys`, else from the stack's store."""
    from kimi_infra.ops.set_key import set_key_hint
    from kimi_infra.stores import StoreError, open_store

    keys = dict(known_keys or {})
    for name in spec.providers:
        if name in keys:
            continue
        store = open_store(spec, name, project_dir)
        key = store.get("current")
        if key is None:
            raise StoreError("no current key to render inline", where=store.name, fix=set_key_hint(spec.stack, name))
        keys[name] = key
    return keys


@reusing_clients()
def deploy_all(spec: StackSpec, project_dir: Path, progress: Callable[[str, str], None] | None = None,
               known_keys: Mapping[str, Secret] | None = None) -> dict[str, str]:
    """Render once and write every target of the stack; returns target name -> outcome.

    `known_keys`: current keys the caller already holds (see `render_for_deploy`).
    """
    from kimi_infra.targets import open_stack_target

    rendered = render_for_deploy(spec, project_dir, known_keys=known_keys)
    outcomes = {}
    for target_spec in spec.targets:
        target = open_stack_target(spec, target_spec, project_dir)
        outcomes[target_spec.name] = target.write(rendered)
        if progress:
            progress(target.location, outcomes[target_spec.name])
    return outcomes


def seed_missing_keys(spec: StackSpec, project_dir: Path, keys: dict[str, Secret]) -> list[str]:
    """Store each given key whose secret does not exist yet; never overwrite one (that is what
    `rotate` is for). Returns the secret names created."""
    from kimi_infra.stores import open_store

    created = []
    for name, key in keys.items():
        store = open_store(spec, name, project_dir)
        if not store.exists():
            store.ensure(key)
            created.append(store.name)
    return created
