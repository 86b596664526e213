"""Crash-safe file writes: a reader sees the old bytes or the new ones, never half a file."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Write `data` to `path` via a temp file in the same folder, fsync, then rename.

    The temp file is created with `mode` from the start (never briefly world-readable), and
    the folder is fsynced so the rename survives a power cut. On any failure the old file stays.
    Refuses to replace anything but a regular file: a rename over /dev/null or a FIFO would
    destroy it (use `is_special_file` to write to those directly).
    """
    if is_special_file(path):
        raise IsADirectoryError(f"{path} is not a regular file; it is never replaced")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def is_special_file(path: Path) -> bool:
    """Whether `path` exists and is not a regular file (a device, FIFO, socket or folder)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return False
    return not stat.S_ISREG(mode)
