"""Pulumi dynamic providers over our secret stores and deployment targets.

No input or output holds a path of the machine that ran `up`: a team shares one state among
checkouts and CI runners at different paths. The providers find the project at call time instead.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from components.providers import one_line, prompt_exit
from kimi_infra.short_lived import settle_process

# In the engine's provider plugin only: our errors reach the user as one line (one_line.py), the
# plugin exits as soon as the engine closes it (prompt_exit.py), and it settles as every short-lived
# kimi-infra process does (no pydantic plugin scan before the providers' first validator).
if one_line.install():
    prompt_exit.install()
    settle_process()

LEGACY_INPUTS = ("projectDir",)
"""Inputs an older kimi-infra kept in the state (the checkout's absolute path): ignored when read,
dropped by the next update or refresh."""


def running_project_dir() -> Path:
    """The project the engine is running now, never a path from the state (it may be another
    checkout's). The engine starts the dynamic-provider plugin in the program's folder, so the
    search for Pulumi.yaml from the working folder finds the project, as the program's does."""
    from kimi_infra.stackfile import find_project_dir

    return find_project_dir()


def validated(kind: Any, value: Any) -> Any:
    """`value` validated as `kind` (a union such as TargetSpec or SecretStoreSpec), with the
    adapter built once a process: building one costs ~10 ms, and the plugin validates on every call."""
    return _adapter(kind).validate_python(value)


@cache
def _adapter(kind: Any) -> Any:
    from pydantic import TypeAdapter

    return TypeAdapter(kind)


def prepare() -> None:
    """Do now what our providers' first calls would do on the engine's critical path: import what they
    import lazily (models, stores, targets: ~100 ms) and build the adapters they validate with. Run by the
    warm plugin python (components.warm_provider) while it waits for the engine's first call. What only
    a write needs (kimi_infra.fleet, ~30 ms) is left to the write: a no-op run never makes one, and the
    warm python shares the machine with the program meanwhile."""
    from components.providers import api_key_secret, config_target  # noqa: F401
    from kimi_infra import key_rules, path_rules, paths, stackfile, stores, targets  # noqa: F401
    from kimi_infra.models import SecretStoreSpec, TargetSpec
    from kimi_infra.targets import base  # noqa: F401

    _adapter(SecretStoreSpec)
    _adapter(TargetSpec)


def without_legacy(props: dict[str, Any]) -> dict[str, Any]:
    """`props` less the inputs no longer written (an upgraded stack's state sheds them)."""
    return {name: value for name, value in props.items() if name not in LEGACY_INPUTS}


def portable_location(location: str, project_dir: Path) -> str:
    """A file target's location as a path relative to the project (as the stack file names it), so
    the state holds no checkout's path; s3://, ssm: and paths outside the project stay as they are."""
    path = Path(location)
    if path.is_absolute() and path.is_relative_to(project_dir):
        return str(path.relative_to(project_dir))
    return location


def same_location(old: Any, new: Any) -> bool:
    """An old state's absolute file location names the same target as the project-relative one now
    written when it ends with it (the old checkout's path, then the same path in the project)."""
    if old == new:
        return True
    if not (isinstance(old, str) and isinstance(new, str)):
        return False
    old_path, new_path = Path(old), Path(new)
    return (old_path.is_absolute() and not new_path.is_absolute()
            and old_path.parts[-len(new_path.parts):] == new_path.parts)
