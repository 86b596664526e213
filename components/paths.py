"""Paths written in stack files: absolute as given (after `~`), else relative to the project."""

from __future__ import annotations

from pathlib import Path


def project_path(project_dir: Path, path: str) -> Path:
    """Where a stack file's `path` points, so every machine reads a relative path the same way."""
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else project_dir / candidate
