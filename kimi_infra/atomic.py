"""Crash-safe file writes: a reader sees the old bytes or the new ones, never half a file.

A temp file is named `.<name>.<pid>.<random>.tmp` beside its target. A kill -9 between write and
rename leaves it behind (it may hold a key, mode 0600): the next write to that target, and the next
read of it (`sweep_stale_temps`: a run that finds nothing to write), removes every such temp whose
process is gone, so no key-bearing temp outlives the next run.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import stat
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

LEGACY_TEMP_AGE = 600.0  # seconds: temps named without a pid (older versions) count as stale after this


def write_atomic(path: Path, data: bytes, mode: int, check: Callable[[Path], None] | None = None) -> None:
    """Write `data` to `path` via a temp file in the same folder, fsync, then rename.

    The temp file is created with `mode` from the start (never briefly world-readable), and
    the folder is fsynced so the rename survives a power cut. On any failure the old file stays.
    Refuses to replace anything but a regular file: a rename over /dev/null or a FIFO would
    destroy it (use `is_special_file` to write to those directly). `check`, when given, is called
    with the complete temp file before the rename: whatever it raises leaves the old file as it was.
    """
    if is_special_file(path):
        raise IsADirectoryError(f"{path} is not a regular file; it is never replaced")
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if check is not None:
            check(Path(temp_name))
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def remove_stale_temps(path: Path) -> list[Path]:
    """Remove temps of `path` left by a writer that died before its rename; returns them.

    A temp whose process still runs is another writer's, in flight: it stays.
    """
    removed = []
    prefix = f".{path.name}."
    ours = re.compile(re.escape(prefix) + _TEMP_TAIL)
    for name in glob.glob(glob.escape(str(path.parent / prefix)) + "*.tmp"):
        temp = Path(name)
        if not ours.fullmatch(temp.name) or not _owned_by_us(temp) or _writer_alive(temp, prefix):
            continue  # another tool's file, or a live writer's temp: never ours to remove
        try:
            temp.unlink()
            removed.append(temp)
        except FileNotFoundError:
            continue  # its writer finished meanwhile
    return removed


# What `write_atomic` adds after `.<name>.`: its pid (absent in older versions) and mkstemp's 8 random
# characters. Only temps of exactly this shape, owned by this user, are ever removed.
_TEMP_TAIL = r"(?:\d+\.)?[a-z0-9_]{8}\.tmp"


def _owned_by_us(temp: Path) -> bool:
    try:
        info = temp.lstat()
    except FileNotFoundError:
        return False
    return stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid()


def sweep_stale_temps(path: Path) -> None:
    """`remove_stale_temps` for a run that only reads `path` (or finds nothing to write): a
    folder this user may not change is left as it is, silently (the next write there reports it)."""
    with contextlib.suppress(OSError):
        remove_stale_temps(path)


def _writer_alive(temp: Path, prefix: str) -> bool:
    """Whether the writer of `.<name>.<pid>.<random>.tmp` still runs."""
    pid = temp.name[len(prefix):].split(".", 1)[0]
    if not pid.isdigit():  # an older version's `.<name>.<random>.tmp`: stale once it is old enough
        try:
            return time.time() - temp.stat().st_mtime < LEGACY_TEMP_AGE
        except FileNotFoundError:
            return True  # gone already: nothing to remove
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's live process (or an absurd pid): leave it
    return True


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
