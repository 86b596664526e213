"""`make check` selects by markers: a test that needs the OpenClaw install or the engine is marked
so by the fixtures it uses, wherever it lives (tests/support/parallel.py)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from tests.support.project import PROJECT_DIR

DOCTOR, LONG_ONE, OTHER = "tests/ops/test_doctor.py", "tests/unit/test_stack_spec.py", "tests/unit/test_errors.py"


def collected(*args: str) -> set[str]:
    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
                            cwd=PROJECT_DIR, capture_output=True, text=True, timeout=300)
    assert result.returncode in (0, 5), result.stdout + result.stderr
    return {line for line in result.stdout.splitlines() if "::" in line}


def in_file(tests: set[str], path: str) -> set[str]:
    return {test for test in tests if test.startswith(f"{path}::")}


@pytest.fixture(scope="module")
def all_three() -> set[str]:
    """Every test of the three files, unselected: one collection (a pytest process) for both tests."""
    return collected(DOCTOR, LONG_ONE, OTHER)


def test_a_test_using_the_openclaw_fixture_outside_tests_contract_is_marked_openclaw(all_three):
    doctor = in_file(all_three, DOCTOR)
    needs_openclaw = collected("-m", "openclaw", DOCTOR)
    assert needs_openclaw and needs_openclaw <= doctor  # doctor runs `openclaw config validate`
    lane = "not engine and not gateway and not contract and not openclaw"  # the Makefile's CHECK_MARKERS
    check_lane = collected("-m", lane, DOCTOR)
    assert check_lane == doctor - needs_openclaw


def test_parallel_runs_start_the_longest_file_first_and_record_each_tests_seconds(tmp_path, all_three):
    """The order comes from the seconds the last run recorded (here: a file of three tests said to take 100 s
    each goes before a file of more tests, which xdist alone would send first), and each run records its own."""
    long_ids, other_ids = in_file(all_three, LONG_ONE), in_file(all_three, OTHER)
    assert long_ids and other_ids
    assert len(other_ids) > len(long_ids)
    seconds = tmp_path / "cache" / "v" / "kimi-infra" / "test-seconds"
    seconds.parent.mkdir(parents=True)
    seconds.write_text(json.dumps(dict.fromkeys(long_ids, 100.0)))

    result = subprocess.run([sys.executable, "-m", "pytest", "-n", "1", "-v", "-o", f"cache_dir={tmp_path / 'cache'}",
                             OTHER, LONG_ONE],
                            cwd=PROJECT_DIR, capture_output=True, text=True, timeout=300)

    assert result.returncode == 0, result.stdout + result.stderr
    ran = [line.split()[-1] for line in result.stdout.splitlines() if re.match(r"\[gw0\] .*PASSED", line)]
    assert len(ran) == len(long_ids | other_ids) and set(ran[:len(long_ids)]) == long_ids, ran
    recorded = json.loads(seconds.read_text())
    assert set(ran) <= set(recorded) and all(recorded[test] < 100.0 for test in long_ids)
