"""Shared fixtures: a real `moto_server` process on loopback, and an AWS API-call counter.

AWS is never patched: boto3 talks HTTP to moto_server through the standard `AWS_ENDPOINT_URL`
setting, exactly as it would talk to AWS.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.moto import MotoServer, aws_test_env, start_moto, stop_moto

PROJECT_DIR = Path(__file__).resolve().parent.parent
CANARY_KEY = "sk-canary-0123456789abcdefghijklmnopqrstuvwxyzCANARY"
"""A fake API key that tests plant and then search for in every output that must not hold it."""


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """One moto_server for the whole run, on a free loopback port."""
    server = start_moto(tmp_path_factory.mktemp("moto") / "moto_server.log")
    yield server
    stop_moto(server)


@pytest.fixture
def aws(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    """A clean moto state, and boto3 pointed at it with dummy credentials."""
    moto_server.reset()
    point_boto3_at(monkeypatch, moto_server.endpoint)
    yield moto_server


def point_boto3_at(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    for name, value in aws_test_env(endpoint).items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@dataclass
class CallCounter:
    """AWS API calls made by every boto3 client created while it is installed."""

    calls: list[tuple[str, str, str]] = field(default_factory=list)  # (service, operation, region)

    def by_operation(self) -> Counter:
        return Counter(op for _, op, _ in self.calls)

    def writes(self) -> list[str]:
        """Operations that change state (everything but reads and listings)."""
        return [op for _, op, _ in self.calls if not op.startswith(("Get", "List", "Describe", "Head"))]

    def clear(self) -> None:
        self.calls.clear()


@pytest.fixture
def aws_calls() -> Iterator[CallCounter]:
    """Count API calls through botocore's event system, on every client made from now on."""
    counter, uninstall = install_call_counter()
    yield counter
    uninstall()


def install_call_counter() -> tuple[CallCounter, Callable[[], None]]:
    """Hook every botocore client created from now on; returns the counter and an uninstaller."""
    import botocore.session

    counter = CallCounter()
    original = botocore.session.Session.create_client

    def create_client(self, service_name, *args, **kwargs):
        client = original(self, service_name, *args, **kwargs)
        region = client.meta.region_name

        def record(model, **_):
            counter.calls.append((service_name, model.name, region))

        client.meta.events.register("before-call.*.*", record)
        return client

    botocore.session.Session.create_client = create_client
    return counter, lambda: setattr(botocore.session.Session, "create_client", original)
