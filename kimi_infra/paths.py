"""Where things live: stack files, local state, and paths written in stack files.

The bottom of the core (it imports only errors), so models and stackfile can use it; the rule
that keeps kimi-infra's own files out of harm's way needs loaded stacks and is in `path_rules`.
"""

from __future__ import annotations

import os
from pathlib import Path

from kimi_infra.errors import KimiInfraError

STATE_DIR = ".kimi-infra"
"""Per-stack local state (dev secret store, file-target history), relative to the project."""
STORE_SUFFIXES = ("", ".lock", ".rotation.lock")  # a local store file and the locks beside it
DEPLOY_RECORD = "deployed.json"
"""What `deploy` last wrote where, in the stack's state folder."""
HISTORY_DIR = "history"
"""The folder of file-target history logs, in the stack's state folder."""


def stack_file(stack: str) -> str:
    """A stack's file, relative to the project: how errors and rendered headers name it."""
    return f"stacks/Pulumi.{stack}.yaml"


def state_dir(project_dir: Path, stack: str) -> Path:
    """The stack's local state folder."""
    return project_dir / STATE_DIR / stack


def project_path(project_dir: Path, path: str) -> Path:
    """Where a stack file's `path` points, so every machine reads a relative path the same way.

    KimiInfraError (one line) for a path no file can have: a NUL byte, or `~user` of no user.
    """
    if "\0" in path:
        raise KimiInfraError("holds a NUL byte", where=f"the path {path.replace(chr(0), '')!r}", fix="remove it")
    try:
        candidate = Path(path).expanduser()
    except RuntimeError:
        raise KimiInfraError("starts with a home folder that does not exist here", where=f"the path {path!r}",
                             fix="give an absolute path or one relative to the project") from None
    return candidate if candidate.is_absolute() else project_dir / candidate


def real_path(path: Path) -> Path:
    """`path` with every symlink and `..` resolved (it need not exist)."""
    return Path(os.path.realpath(path))
