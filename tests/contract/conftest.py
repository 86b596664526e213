"""Contract-test fixtures: the real OpenClaw CLI (tests/support/openclaw.py) and a resolver launcher,
once per run, and the timings of the OpenClaw calls after it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.openclaw import TIMINGS, OpenClaw, install_openclaw
from tests.support.resolver import install_launcher


@pytest.fixture(scope="session")
def openclaw(tmp_path_factory: pytest.TempPathFactory) -> OpenClaw:
    """The pinned OpenClaw CLI; fails (or skips with KIMI_INFRA_SKIP_CONTRACT=1) if it cannot be installed."""
    return install_openclaw(tmp_path_factory.mktemp("openclaw-homes"))


@pytest.fixture(scope="session")
def resolver_launcher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A launcher made by `install-resolver`, so OpenClaw's command checks (owner, mode, no symlink) pass."""
    return install_launcher(tmp_path_factory.mktemp("resolver") / "bin" / "kimi-infra-resolve")


def pytest_terminal_summary(terminalreporter) -> None:
    """Print how long the OpenClaw calls took (the numbers in the contract-test report)."""
    if not TIMINGS:
        return
    terminalreporter.section("OpenClaw contract timings")
    for kind, seconds in TIMINGS.items():
        terminalreporter.write_line(f"{kind}: {len(seconds)} call(s), mean {sum(seconds) / len(seconds):.2f} s, "
                                    f"max {max(seconds):.2f} s, total {sum(seconds):.1f} s")
