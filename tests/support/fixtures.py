"""The shared fixtures (registered for every test by tests/conftest.py): moto_server processes, the real OpenClaw CLI,
the built Pulumi engine, AWS pointed at them, an API-call counter, and scratch projects holding the known stacks.

AWS is never patched: boto3 talks HTTP to moto_server through the standard `AWS_ENDPOINT_URL`
setting, exactly as it would talk to AWS.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.aws_calls import CallCounter, install_call_counter
from tests.support.moto import MotoServer, point_boto3_at, start_moto, stop_moto
from tests.support.openclaw import OpenClaw, install_openclaw
from tests.support.project import copy_known_project
from tests.support.pulumi_engine import EngineUnavailable, build_engine
from tests.support.resolver import install_launcher

SKIP_ENGINE_ENV = "KIMI_INFRA_SKIP_ENGINE"
MotoFactory = Callable[..., MotoServer]
"""`moto_factory(name, extra_env=None)`: a fresh moto_server, stopped when the test run ends."""


@pytest.fixture(scope="session")
def moto_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoFactory]:
    """Start more moto_servers (e.g. one that enforces IAM); each logs to its own file and all are
    stopped at the end of the run, even when a test fails half-way."""
    started: list[MotoServer] = []

    def start(name: str = "moto", extra_env: dict[str, str] | None = None) -> MotoServer:
        server = start_moto(tmp_path_factory.mktemp(name) / "moto_server.log", extra_env)
        started.append(server)
        return server

    yield start
    for server in started:
        stop_moto(server)


@pytest.fixture(scope="session")
def moto_server(moto_factory: MotoFactory) -> MotoServer:
    """One moto_server for the whole run, on a free loopback port, its SSM data loaded."""
    server = moto_factory("moto")
    server.warm()
    return server


@pytest.fixture
def aws(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    """A clean moto state, and boto3 pointed at it with dummy credentials."""
    moto_server.reset()
    point_boto3_at(monkeypatch, moto_server.endpoint)
    yield moto_server


@pytest.fixture
def aws_calls() -> Iterator[CallCounter]:
    """Count API calls through botocore's event system, on every client made from now on."""
    counter, uninstall = install_call_counter()
    yield counter
    uninstall()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A scratch project of this test's own: Pulumi.yaml and the known stack files."""
    return copy_known_project(tmp_path)


@pytest.fixture(scope="session")
def known_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One scratch project with the known stacks for the whole run: for tests that only read it."""
    return copy_known_project(tmp_path_factory.mktemp("known-project"))


@pytest.fixture(scope="session")
def openclaw(tmp_path_factory: pytest.TempPathFactory) -> OpenClaw:
    """The pinned OpenClaw CLI; fails (or skips with KIMI_INFRA_SKIP_CONTRACT=1) if it cannot be installed."""
    return install_openclaw(tmp_path_factory.mktemp("openclaw-homes"))


@pytest.fixture(scope="session")
def resolver_launcher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A launcher made by `install-resolver`, so OpenClaw's command checks (owner, mode, no symlink) pass."""
    return install_launcher(tmp_path_factory.mktemp("resolver") / "bin" / "kimi-infra-resolve")


@pytest.fixture(scope="session")
def engine_bin() -> Path:
    """The built Pulumi engine (`engine/build.sh`, as `make engine`). When it cannot be built the tests
    that need it FAIL with the build's error; `KIMI_INFRA_SKIP_ENGINE=1` turns that into a skip."""
    try:
        return build_engine()
    except EngineUnavailable as error:
        if os.environ.get(SKIP_ENGINE_ENV) == "1":
            pytest.skip(f"the Pulumi engine could not be built ({SKIP_ENGINE_ENV}=1): {error}")
        pytest.fail(f"the Pulumi engine could not be built (set {SKIP_ENGINE_ENV}=1 to skip): {error}",
                    pytrace=False)
