"""Crash injection for rotation tests: a fault hook installed in-process or in a CLI subprocess.

Production code only calls `fault_point(step)`; nothing happens unless a test installed a hook.
Run as a script (`python tests/ops/faults.py STEP <cli args>`), it installs a hook that stops
right after STEP and then runs the CLI, so subprocess tests crash exactly as a kill there would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kimi_infra.errors import KimiInfraError
from kimi_infra.ops import rotate as rot

PROJECT_DIR = Path(__file__).resolve().parent.parent.parent


class InjectedFault(KimiInfraError):
    """Raised by the test hook right after the step it names."""


def crash_after(step: str) -> rot.FaultHook:
    def hook(reached: str) -> None:
        if reached == step:
            raise InjectedFault(f"stopped after step {step!r} (test fault hook); fix: run again with --resume")
    return hook


@contextmanager
def crashing_after(step: str) -> Iterator[None]:
    """In-process: the run stops right after `step` while the block lasts."""
    previous = rot.install_fault_hook(crash_after(step))
    try:
        yield
    finally:
        rot.install_fault_hook(previous)


def run_crashing_cli(step: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """The CLI in a subprocess that stops right after `step`."""
    env = {**os.environ, "PYTHONPATH": str(PROJECT_DIR)}
    return subprocess.run([sys.executable, __file__, step, *args], env=env, input=stdin, capture_output=True,
                          text=True, timeout=120)


if __name__ == "__main__":
    from kimi_infra.cli import cli

    rot.install_fault_hook(crash_after(sys.argv[1]))
    cli(args=sys.argv[2:], prog_name="kimi-infra")
