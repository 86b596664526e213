"""Gateway-test fixtures: a stack deployed on moto with `baseUrls` at the fake provider, our
resolver installed with `install-resolver`, and the real OpenClaw gateway on the deployed file.

Each module shares one gateway (10-30 s to start, about 1 GB), and has its own moto_server so a
test can take the store away. Figures (start, reload, latency) are printed after the run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.fake_provider import FakeProvider
from tests.support.gateway_stack import FIGURES
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


def _figure_files(config: pytest.Config) -> Path:
    """Where xdist workers leave their figures for the controller: the controller's base temp folder
    (each worker's own is `<it>/popen-gwN`)."""
    base = config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
    return base.parent if hasattr(config, "workerinput") else base


def pytest_sessionfinish(session: pytest.Session) -> None:
    """An xdist worker's figures live in its own memory: hand them to the controller in a file."""
    worker = getattr(session.config, "workerinput", None)
    if worker is None or not FIGURES:
        return
    target = _figure_files(session.config) / f"gateway-figures-{worker['workerid']}.json"
    target.write_text(json.dumps(FIGURES))


def pytest_terminal_summary(terminalreporter) -> None:
    """Print the gateway figures (the numbers in the gateway-test report), this process's and the workers'."""
    figures: dict[str, list[str]] = {section: list(lines) for section, lines in FIGURES.items()}
    for path in sorted(_figure_files(terminalreporter.config).glob("gateway-figures-*.json")):
        for section, lines in json.loads(path.read_text()).items():
            figures.setdefault(section, []).extend(lines)
    if not figures:
        return
    terminalreporter.section("OpenClaw gateway figures")
    for section, lines in figures.items():
        for line in lines:
            terminalreporter.write_line(f"{section}: {line}")
