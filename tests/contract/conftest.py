"""Contract tests: the timings of the OpenClaw calls after the run (the fixtures are in tests/support/fixtures.py)."""

from __future__ import annotations

from tests.support.openclaw import TIMINGS


def pytest_terminal_summary(terminalreporter) -> None:
    """Print how long the OpenClaw calls took (the numbers in the contract-test report)."""
    if not TIMINGS:
        return
    terminalreporter.section("OpenClaw contract timings")
    for kind, seconds in TIMINGS.items():
        terminalreporter.write_line(f"{kind}: {len(seconds)} call(s), mean {sum(seconds) / len(seconds):.2f} s, "
                                    f"max {max(seconds):.2f} s, total {sum(seconds):.1f} s")
