"""Render a stack for deployment and write it to targets: shared by `pulumi up`, rotate and status.

Imports no pulumi. In inline mode the keys come from the store's current versions.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from components.models import StackSpec
from components.render import Rendered, render_stack
from components.secret import Secret

MASKED_KEY = Secret("<masked>")


def source_of(stack: str) -> str:
    """How errors name a stack's file (relative, so messages read the same on every machine)."""
    return f"stacks/Pulumi.{stack}.yaml"


def render_for_deploy(spec: StackSpec, project_dir: Path, *, masked: bool = False) -> Rendered:
    """The stack's config as deployed; inline keys come from the store (or are masked)."""
    if spec.keyMode != "inline":
        return render_stack(spec, source_of(spec.stack))
    if masked:
        return render_stack(spec, source_of(spec.stack), {p: MASKED_KEY for p in spec.providers})
    return render_stack(spec, source_of(spec.stack), current_keys(spec, project_dir))


def current_keys(spec: StackSpec, project_dir: Path) -> dict[str, Secret]:
    """Each enabled provider's current key from the stack's store."""
    from components.stores import StoreError, open_store

    keys = {}
    for name in spec.providers:
        store = open_store(spec, name, project_dir)
        key = store.get("current")
        if key is None:
            raise StoreError(f"{store.name}: no current key to render inline; fix: run `pulumi up` or `rotate`")
        keys[name] = key
    return keys


def deploy_all(spec: StackSpec, project_dir: Path,
               progress: Callable[[str, str], None] | None = None) -> dict[str, str]:
    """Render once and write every target of the stack; returns target name -> outcome."""
    from components.targets import open_stack_target

    rendered = render_for_deploy(spec, project_dir)
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
    from components.stores import open_store

    created = []
    for name, key in keys.items():
        store = open_store(spec, name, project_dir)
        if not store.exists():
            store.ensure(key)
            created.append(store.name)
    return created
