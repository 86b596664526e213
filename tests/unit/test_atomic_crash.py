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
    mine = tmp_path / f".config.json5.{os.getpid()}.abc123.tmp"  # this process is alive
    mine.write_text("in flight")
    dead = tmp_path / ".config.json5.4194305.abc123.tmp"  # above Linux's pid_max: no such process
    dead.write_text("left by a crash")

    assert remove_stale_temps(target) == [dead]
    write_atomic(target, b"new", 0o644)
    assert mine.exists() and not dead.exists() and target.read_bytes() == b"new"
