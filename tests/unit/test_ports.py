"""The tests' servers get ports no other process is handed, and a port taken anyway costs moto a retry,
not the run (a CI run lost one worker's session moto_server to "Address already in use": 229 errors)."""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import tests.support.moto as moto
import tests.support.ports as ports
from tests.support.gateway import Gateway
from tests.support.ports import free_port


def kernel_range(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str) -> None:
    """Make the tests' ports see `text` as the kernel's ip_local_port_range (this machine's may be anything)."""
    (tmp_path / "ip_local_port_range").write_text(text)
    monkeypatch.setattr(ports, "PORT_RANGE_FILE", tmp_path / "ip_local_port_range")


@pytest.mark.parametrize(("kernel", "expected"), [
    ("32768\t60999\n", range(10000, 32768)),  # Linux's default: the stretch below
    ("10000 40000", range(40001, 65536)),  # nothing below: the stretch above
])
def test_a_free_port_is_outside_the_range_the_kernel_hands_out_and_bindable(
        kernel: str, expected: range, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    kernel_range(monkeypatch, tmp_path, kernel)
    assert ports.ports_the_kernel_never_picks() == expected
    for _ in range(20):
        port = free_port()
        assert port in expected
        with socket.socket() as server:
            server.bind(("127.0.0.1", port))


@pytest.mark.parametrize("kernel", ["1024 65000", "not a range", None])
def test_without_room_outside_the_kernels_range_the_kernel_picks(
        kernel: str | None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Too few ports outside it (ours would meet each other), or no readable range: a port the kernel picks."""
    if kernel is None:
        monkeypatch.setattr(ports, "PORT_RANGE_FILE", tmp_path / "missing")
    else:
        kernel_range(monkeypatch, tmp_path, kernel)
    assert ports.ports_the_kernel_never_picks() == range(0)
    with socket.socket() as server:
        server.bind(("127.0.0.1", free_port()))


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", free_port()))
        taken.listen()
        yield taken.getsockname()[1]


def test_a_port_something_listens_on_is_never_picked(taken_port: int, monkeypatch: pytest.MonkeyPatch):
    other = free_port()
    picks = iter([taken_port, taken_port, other])
    monkeypatch.setattr(ports.PICKER, "choice", lambda _candidates: next(picks))
    assert free_port() == other


def test_moto_started_on_a_port_taken_meanwhile_retries_on_another(
        taken_port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    picks = iter([taken_port, free_port()])
    monkeypatch.setattr(ports, "free_port", lambda: next(picks))
    server = moto.start_moto(tmp_path / "moto_server.log")
    try:
        assert not server.endpoint.endswith(f":{taken_port}")
        server.reset()  # it answers
    finally:
        moto.stop_moto(server)


def test_moto_gives_up_after_its_attempts_naming_the_log(
        taken_port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(ports, "free_port", lambda: taken_port)
    with pytest.raises(ports.PortTaken, match=r"moto_server exited early; see .*moto_server\.log"):
        moto.start_moto(tmp_path / "moto_server.log")


FAKE_GATEWAY = """#!{python}
import http.server, pathlib, sys
port = int(sys.argv[sys.argv.index("--port") + 1])
tried = pathlib.Path("tried")  # its cwd is the gateway's home
if not tried.exists():
    tried.write_text(str(port))
    print("Gateway failed to start: listen EADDRINUSE: address already in use 127.0.0.1:%d" % port)
    sys.exit(1)
class Models(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
http.server.HTTPServer(("127.0.0.1", port), Models).serve_forever()
"""


def test_a_gateway_whose_port_was_taken_starts_again_on_another(tmp_path: Path):
    """A stand-in for `openclaw gateway run` that fails as OpenClaw does the first time ("EADDRINUSE")."""
    launcher = tmp_path / "openclaw"
    launcher.write_text(FAKE_GATEWAY.format(python=sys.executable))
    launcher.chmod(0o755)
    deployed = tmp_path / "deployed" / "openclaw.json5"
    deployed.parent.mkdir()
    deployed.write_text("{}")
    gateway = Gateway(launcher, tmp_path / "home", deployed)
    with gateway:
        first = int((gateway.home / "tried").read_text())
        assert gateway.port != first
        assert json.loads(gateway.config.read_text())["gateway"]["port"] == gateway.port
