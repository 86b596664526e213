"""Gateway-test fixtures: a stack deployed on moto with `baseUrls` at the fake provider, our
resolver installed with `install-resolver`, and the real OpenClaw gateway on the deployed file.

Each module shares one gateway (10-30 s to start, about 1 GB), and has its own moto_server so a
test can take the store away. Figures (start, reload, latency) print after the run: gateway_figures.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.fake_provider import FakeProvider
from tests.support.moto import MotoServer, start_moto, stop_moto
from tests.support.openclaw import install_openclaw
from tests.support.resolver import install_launcher


@pytest.fixture(scope="session")
def openclaw_launcher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return install_openclaw(tmp_path_factory.mktemp("openclaw-scratch")).launcher


@pytest.fixture(scope="session")
def resolver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A launcher made by `install-resolver`, as on a gateway host (OpenClaw checks owner and mode)."""
    return install_launcher(tmp_path_factory.mktemp("resolver") / "bin" / "kimi-infra-resolve")


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """This module's own moto_server: a test may stop it (the store unreachable)."""
    server = start_moto(tmp_path_factory.mktemp("gateway-moto") / "moto_server.log")
    yield server
    stop_moto(server)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as server:
        yield server
