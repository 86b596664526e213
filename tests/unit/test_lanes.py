"""`make check` selects by markers: a test that needs the OpenClaw install or the engine is marked
so by the fixtures it uses, wherever it lives (tests/support/parallel.py)."""

from __future__ import annotations

import subprocess
import sys

from tests.support.project import PROJECT_DIR


def collected(*args: str) -> set[str]:
    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
                            cwd=PROJECT_DIR, capture_output=True, text=True, timeout=300)
    assert result.returncode in (0, 5), result.stdout + result.stderr
    return {line for line in result.stdout.splitlines() if "::" in line}


def test_a_test_using_the_openclaw_fixture_outside_tests_contract_is_marked_openclaw():
    doctor = collected("tests/ops/test_doctor.py")
    needs_openclaw = collected("-m", "openclaw", "tests/ops/test_doctor.py")
    assert needs_openclaw and needs_openclaw <= doctor  # doctor runs `openclaw config validate`
    lane = "not engine and not gateway and not contract and not openclaw"  # the Makefile's CHECK_MARKERS
    check_lane = collected("-m", lane, "tests/ops/test_doctor.py")
    assert check_lane == doctor - needs_openclaw
