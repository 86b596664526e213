"""How the suite splits into lanes and runs in parallel (registered for every test by tests/conftest.py).

- Markers by need: a test that uses the OpenClaw install (the `openclaw` or `openclaw_launcher`
  fixture) is marked `openclaw`, one that uses the built engine (`engine_bin`) `engine`, wherever
  it lives; so `make check` (no engine, gateway or OpenClaw) selects by markers alone, also for
  tests added later.
- Parallel runs (pytest-xdist, `make test`): each worker gets whole files, so a module's fixtures
  are made once and its tests keep their order. Session fixtures are per worker: each worker has
  its own moto_server; the engine build and the OpenClaw install are shared caches guarded by file
  locks. Each gateway file is a unit of its own (a gateway uses about 1 GB).
- Gateway files apart: a worker is given a gateway file only when no other worker has one unfinished, or
  when nothing else is left. Their load is a closed loop (each client sends again as soon as it has an
  answer), so a gateway under load takes about a core for as long as its scenario lasts, and two
  scenarios at once stretch each other: test_rotation.py took 175 and 216 s beside test_fleet.py, 122 and
  143 s after it. Four full runs alternated (2026-12-04, 2 workers): pytest 636 and 738 s apart, 665
  and 762 s side by side; CPU 1,132 and 1,298 s against 1,172 and 1,371 s.
- Longest files first: with whole files per worker the run ends when the longest lane ends, so the
  files go out in decreasing expected seconds (longest processing time first). The seconds of each
  test are recorded in pytest's cache after every run (`kimi-infra/test-seconds`); a test with no
  record yet (a fresh clone, a new test) is estimated from its folder's measured average.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pytest

NEEDS = {"openclaw": "openclaw", "openclaw_launcher": "openclaw", "engine_bin": "engine"}
"""Fixture -> the marker of the heavy part it needs."""
SECONDS_KEY = "kimi-infra/test-seconds"
"""pytest cache entry: test id -> seconds (setup + call + teardown) in the last run that ran it."""
GATEWAY_FOLDER = "tests/gateway/"
FOLDER_SECONDS = {GATEWAY_FOLDER: 45.0, "tests/engine/": 12.0, "tests/contract/": 3.0, "tests/fleet/": 1.5}
"""Average seconds a test of the folder took in a full run (2 workers, 2026-12), for tests not yet recorded."""
OTHER_SECONDS = 0.3

_seconds_this_run: dict[str, float] = {}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with what its fixtures need (before `-m` deselects)."""
    for item in items:
        for name in sorted({NEEDS[f] for f in getattr(item, "fixturenames", ()) if f in NEEDS}):
            if item.get_closest_marker(name) is None:
                item.add_marker(name)


def estimated_seconds(nodeid: str, recorded: Mapping[str, float]) -> float:
    """The seconds the test took last time, else its folder's average."""
    if nodeid in recorded:
        return recorded[nodeid]
    return next((s for folder, s in FOLDER_SECONDS.items() if nodeid.startswith(folder)), OTHER_SECONDS)


def longest_first(units: Mapping[str, Iterable[str]], recorded: Mapping[str, float]) -> list[str]:
    """The units (file -> its test ids) by decreasing expected seconds; ties keep their order."""
    expected = {unit: sum(estimated_seconds(nodeid, recorded) for nodeid in ids) for unit, ids in units.items()}
    return sorted(units, key=lambda unit: -expected[unit])


def hand_out_order(units: Mapping[str, Iterable[str]], recorded: Mapping[str, float],
                   gateway_file_elsewhere: bool) -> list[str]:
    """The units in the order a worker should take them: longest first, and while another worker has a
    gateway file unfinished, the gateway files after every other file (see the module docstring)."""
    order = longest_first(units, recorded)
    if gateway_file_elsewhere:
        order.sort(key=lambda unit: unit.startswith(GATEWAY_FOLDER))  # stable: longest first within each
    return order


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Add up each test's phases (in an xdist run the controller sees every worker's reports)."""
    _seconds_this_run[report.nodeid] = _seconds_this_run.get(report.nodeid, 0.0) + report.duration


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Keep this run's seconds for the next run's order (the controller's or a lone process's)."""
    cache = getattr(session.config, "cache", None)  # None under -p no:cacheprovider
    if hasattr(session.config, "workerinput") or cache is None or not _seconds_this_run:
        return
    recorded = cache.get(SECONDS_KEY, {})
    cache.set(SECONDS_KEY, {**recorded, **{k: round(v, 2) for k, v in _seconds_this_run.items()}})


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Whole files per worker, longest first (see the module docstring)."""
    from xdist.scheduler import LoadFileScheduling

    cache = getattr(config, "cache", None)
    recorded = cache.get(SECONDS_KEY, {}) if cache is not None else {}

    class LongestFilesFirst(LoadFileScheduling):
        def _assign_work_unit(self, node: Any) -> None:
            # The queue is re-sorted at each hand-out: a crashed worker's files come back to it unsorted.
            for unit in hand_out_order(self.workqueue, recorded, self._gateway_file_elsewhere(node)):
                self.workqueue.move_to_end(unit)
            super()._assign_work_unit(node)

        def _gateway_file_elsewhere(self, node: Any) -> bool:
            """Whether another worker has a gateway file assigned that it has not finished."""
            return any(unit.startswith(GATEWAY_FOLDER) and not all(done.values())
                       for other, units in self.assigned_work.items() if other is not node
                       for unit, done in units.items())

    return LongestFilesFirst(config, log)
