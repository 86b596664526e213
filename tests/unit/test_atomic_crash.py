"""A kill -9 just before the rename leaves a 0600 temp that may hold keys; the next write removes it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from kimi_infra.atomic import remove_stale_temps, write_atomic
from kimi_infra.secret import Secret
from kimi_infra.stores.local_file import LocalFileStore
from tests.support.project import CANARY_KEY, PROJECT_DIR

# The child stores a key; its os.replace (the rename) is replaced by a kill -9 of itself.
CRASH_BEFORE_RENAME = f"""
import os, signal, sys
sys.path.insert(0, {str(PROJECT_DIR)!r})
from kimi_infra.secret import Secret
from kimi_infra.stores.local_file import LocalFileStore
os.replace = lambda *_: os.kill(os.getpid(), signal.SIGKILL)
LocalFileStore(sys.argv[1], "kimi-infra/dev/moonshot").ensure(Secret({CANARY_KEY!r}))
"""


def temps(folder: Path) -> list[Path]:
    return sorted(folder.glob(".secrets.json.*.tmp"))


def test_the_next_store_write_removes_a_temp_left_by_a_kill_9(tmp_path):
    store = tmp_path / "secrets.json"
    crashed = subprocess.run([sys.executable, "-c", CRASH_BEFORE_RENAME, str(store)], timeout=60)
    assert crashed.returncode == -signal.SIGKILL
    [left] = temps(tmp_path)
    assert CANARY_KEY in left.read_text() and (left.stat().st_mode & 0o777) == 0o600
    assert not store.exists()

    LocalFileStore(store, "kimi-infra/dev/moonshot").ensure(Secret(CANARY_KEY))  # the next run

    assert temps(tmp_path) == []
    assert LocalFileStore(store, "kimi-infra/dev/moonshot").get() == Secret(CANARY_KEY)


def test_a_live_writers_temp_stays(tmp_path):
    target = tmp_path / "config.json5"
    mine = tmp_path / f".config.json5.{os.getpid()}.abc123de.tmp"  # this process is alive
    mine.write_text("in flight")
    dead = tmp_path / ".config.json5.4194305.abc123de.tmp"  # above Linux's pid_max: no such process
    dead.write_text("left by a crash")

    assert remove_stale_temps(target) == [dead]
    write_atomic(target, b"new", 0o644)
    assert mine.exists() and not dead.exists() and target.read_bytes() == b"new"


def test_only_temps_of_our_own_shape_are_removed(tmp_path):
    """A read sweeps stale temps beside a target, so it must never take another tool's file for one:
    only `.<name>.<pid>.<8 mkstemp characters>.tmp` (or the older form without a pid) of a dead writer."""
    target = tmp_path / "openclaw.json5"
    dead_pid = "999999999"
    ours = tmp_path / f".openclaw.json5.{dead_pid}.abc_12xy.tmp"
    legacy = tmp_path / ".openclaw.json5.k2m9_q1z.tmp"
    others = [tmp_path / ".openclaw.json5.backup.tmp", tmp_path / f".openclaw.json5.{dead_pid}.mine.tmp",
              tmp_path / f".openclaw.json5.{dead_pid}.ABCDEFGH.tmp"]
    for path in [ours, legacy, *others]:
        path.write_text("x")
        os.utime(path, (0, 0))  # old enough for the legacy rule
    assert sorted(remove_stale_temps(target)) == sorted([ours, legacy])
    assert all(path.exists() for path in others)
