"""How the suite splits into lanes and runs in parallel (registered for every test by tests/conftest.py).

- Markers by need: a test that uses the OpenClaw install (the `openclaw` or `openclaw_launcher`
  fixture) is marked `openclaw`, one that uses the built engine (`engine_bin`) `engine`, wherever
  it lives; so `make check` (no engine, gateway or OpenClaw) selects by markers alone, also for
  tests added later.
- Parallel runs (pytest-xdist, `make test`): each worker gets whole files, so a module's fixtures
  are made once and its tests keep their order; every test under tests/gateway/ goes to ONE
  worker, so one gateway module (its gateways use about 1 GB each) runs at a time however many
  workers there are. Session fixtures are per worker: each worker has its own moto_server; the
  engine build and the OpenClaw install are shared caches guarded by file locks.
"""

from __future__ import annotations

from typing import Any

import pytest

NEEDS = {"openclaw": "openclaw", "openclaw_launcher": "openclaw", "engine_bin": "engine"}
"""Fixture -> the marker of the heavy part it needs."""
GATEWAY_DIR = "tests/gateway/"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with what its fixtures need (before `-m` deselects)."""
    for item in items:
        for name in sorted({NEEDS[f] for f in getattr(item, "fixturenames", ()) if f in NEEDS}):
            if item.get_closest_marker(name) is None:
                item.add_marker(name)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Whole files per worker, and all gateway files as one unit (see the module docstring)."""
    from xdist.scheduler import LoadFileScheduling

    class FilesAndOneGatewayLane(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.startswith(GATEWAY_DIR):
                return GATEWAY_DIR
            return super()._split_scope(nodeid)

    return FilesAndOneGatewayLane(config, log)
