"""The pinned OpenClaw CLI for tests: installed once into a cache by `install_openclaw.sh`.

Shared by the contract tests (one CLI call per check) and the gateway tests (a running gateway).
Without a registry the install fails and so do those tests, so a broken environment is never
mistaken for a pass; `KIMI_INFRA_SKIP_CONTRACT=1` turns the failure into a skip.
`KIMI_INFRA_OPENCLAW_CACHE` picks another cache folder.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import PROJECT_DIR, run_cli

INSTALL_SCRIPT = PROJECT_DIR / "tests" / "contract" / "install_openclaw.sh"
SKIP_ENV = "KIMI_INFRA_SKIP_CONTRACT"
CACHE_ENV = "KIMI_INFRA_OPENCLAW_CACHE"
INSTALL_TIMEOUT_S = 900


@dataclass(frozen=True)
class Installed:
    """The `openclaw` launcher, whether this call installed it, and how long the call took."""

    launcher: Path
    fresh: bool
    seconds: float


def install_openclaw() -> Installed:
    """The pinned CLI, installing it on first use; pytest.fail (or skip, see SKIP_ENV) if it cannot be."""
    cache = os.environ.get(CACHE_ENV)
    start = time.monotonic()
    try:
        result = subprocess.run(["bash", str(INSTALL_SCRIPT), *([cache] if cache else [])], capture_output=True,
                                text=True, timeout=INSTALL_TIMEOUT_S)
        problem = None if result.returncode == 0 else (result.stderr.strip().splitlines() or ["no output"])[-1]
    except subprocess.TimeoutExpired:
        result, problem = None, f"the install took over {INSTALL_TIMEOUT_S} s"
    if problem is not None:
        if os.environ.get(SKIP_ENV) == "1":
            pytest.skip(f"{SKIP_ENV}=1 and the OpenClaw CLI cannot be installed: {problem}")
        pytest.fail(f"cannot install the OpenClaw CLI ({problem}); fix: give npm access to its registry, "
                    f"or set {SKIP_ENV}=1 to skip the contract tests", pytrace=False)
    return Installed(Path(result.stdout.strip().splitlines()[-1]), "installed into" in result.stderr,
                     time.monotonic() - start)


def install_resolver(dest: Path) -> Path:
    """`python -m kimi_infra install-resolver --dest DEST`, as an operator runs it on a gateway host."""
    result = run_cli("install-resolver", "--dest", str(dest))
    assert result.returncode == 0, result.stderr
    return dest
