"""The order in which the parallel run hands out test files (tests/support/parallel.py)."""

from __future__ import annotations

from tests.support.parallel import GATEWAY_FOLDER, hand_out_order

UNITS = {
    "tests/unit/test_a.py": ["tests/unit/test_a.py::t"],
    "tests/gateway/test_rotation.py": ["tests/gateway/test_rotation.py::t1", "tests/gateway/test_rotation.py::t2"],
    "tests/engine/test_b.py": ["tests/engine/test_b.py::t"],
    "tests/gateway/test_fleet.py": ["tests/gateway/test_fleet.py::t"],
}
RECORDED = {"tests/unit/test_a.py::t": 1.0, "tests/gateway/test_rotation.py::t1": 60.0,
            "tests/gateway/test_rotation.py::t2": 60.0, "tests/engine/test_b.py::t": 30.0,
            "tests/gateway/test_fleet.py::t": 300.0}


def test_longest_files_go_first_when_no_other_worker_runs_a_gateway_file():
    assert hand_out_order(UNITS, RECORDED, gateway_file_elsewhere=False) == [
        "tests/gateway/test_fleet.py", "tests/gateway/test_rotation.py", "tests/engine/test_b.py",
        "tests/unit/test_a.py"]


def test_gateway_files_wait_while_another_worker_runs_one_longest_first_on_each_side():
    assert hand_out_order(UNITS, RECORDED, gateway_file_elsewhere=True) == [
        "tests/engine/test_b.py", "tests/unit/test_a.py", "tests/gateway/test_fleet.py",
        "tests/gateway/test_rotation.py"]


def test_a_gateway_file_is_still_handed_out_when_nothing_else_is_left():
    gateways_only = {unit: ids for unit, ids in UNITS.items() if unit.startswith(GATEWAY_FOLDER)}
    assert hand_out_order(gateways_only, RECORDED, gateway_file_elsewhere=True) == [
        "tests/gateway/test_fleet.py", "tests/gateway/test_rotation.py"]


def test_an_unrecorded_test_counts_its_folders_average():
    units = {"tests/unit/test_many.py": [f"tests/unit/test_many.py::t{i}" for i in range(10)],
             "tests/gateway/test_new.py": ["tests/gateway/test_new.py::t"]}
    assert hand_out_order(units, {}, gateway_file_elsewhere=False)[0] == "tests/gateway/test_new.py"
