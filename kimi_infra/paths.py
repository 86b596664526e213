"""Where things live: stack files, local state, and paths written in stack files."""

from __future__ import annotations

from pathlib import Path

STATE_DIR = ".kimi-infra"
"""Per-stack local state (dev secret store, file-target history), relative to the project."""


def stack_file(stack: str) -> str:
    """A stack's file, relative to the project: how errors and rendered headers name it."""
    return f"stacks/Pulumi.{stack}.yaml"


def state_dir(project_dir: Path, stack: str) -> Path:
    """The stack's local state folder."""
    return project_dir / STATE_DIR / stack


def project_path(project_dir: Path, path: str) -> Path:
    """Where a stack file's `path` points, so every machine reads a relative path the same way."""
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else project_dir / candidate
