"""Shared fixtures: a real `moto_server` process on loopback, and an AWS API-call counter.

AWS is never patched: boto3 talks HTTP to moto_server through the standard `AWS_ENDPOINT_URL`
setting, exactly as it would talk to AWS.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parent.parent
CANARY_KEY = "sk-canary-0123456789abcdefghijklmnopqrstuvwxyzCANARY"
"""A fake API key that tests plant and then search for in every output that must not hold it."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class MotoServer:
    """A running moto_server; `reset()` wipes all state."""

    endpoint: str
    process: subprocess.Popen
    log_path: Path

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=10).close()


def _start_moto(log_path: Path, extra_env: dict[str, str] | None = None) -> MotoServer:
    port = _free_port()
    moto_bin = Path(sys.executable).parent / "moto_server"
    log = log_path.open("wb")  # a file, not a PIPE: a full pipe would hang the server
    env = {**os.environ, **(extra_env or {})}
    process = subprocess.Popen([str(moto_bin), "-H", "127.0.0.1", "-p", str(port)],
                               stdout=log, stderr=subprocess.STDOUT, env=env)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto_server exited early; see {log_path}")
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/config", timeout=1).close()
            return MotoServer(endpoint, process, log_path)
        except OSError:
            time.sleep(0.05)
    process.terminate()
    raise RuntimeError(f"moto_server did not answer within 30 s; see {log_path}")


def _stop(server: MotoServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """One moto_server for the whole run, on a free loopback port."""
    server = _start_moto(tmp_path_factory.mktemp("moto") / "moto_server.log")
    yield server
    _stop(server)


@pytest.fixture
def aws(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    """A clean moto state, and boto3 pointed at it with dummy credentials."""
    moto_server.reset()
    point_boto3_at(monkeypatch, moto_server.endpoint)
    yield moto_server


def point_boto3_at(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")


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
