"""The tests' servers get ports no other process is handed, and a port taken anyway costs moto a retry,
not the run (a CI run lost one worker's session moto_server to "Address already in use": 229 errors)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

import tests.support.moto as moto
from tests.support.ports import free_port, ports_the_kernel_never_picks


def test_a_free_port_is_outside_the_range_the_kernel_hands_out_and_bindable():
    never_picked = ports_the_kernel_never_picks()
    assert len(never_picked) >= 4096, "this machine's ip_local_port_range leaves no room: the test is moot"
    for _ in range(20):
        port = free_port()
        assert port in never_picked
        with socket.socket() as server:
            server.bind(("127.0.0.1", port))


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", free_port()))
        taken.listen()
        yield taken.getsockname()[1]


def test_a_port_something_listens_on_is_never_picked(taken_port: int, monkeypatch: pytest.MonkeyPatch):
    other = free_port()
    picks = iter([taken_port, taken_port, other])
    monkeypatch.setattr("tests.support.ports.random.choice", lambda _candidates: next(picks))
    assert free_port() == other


def test_moto_started_on_a_port_taken_meanwhile_retries_on_another(
        taken_port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    ports = iter([taken_port, free_port()])
    monkeypatch.setattr(moto, "free_port", lambda: next(ports))
    server = moto.start_moto(tmp_path / "moto_server.log")
    try:
        assert not server.endpoint.endswith(f":{taken_port}")
        server.reset()  # it answers
    finally:
        moto.stop_moto(server)


def test_moto_gives_up_after_its_attempts_naming_the_log(
        taken_port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(moto, "free_port", lambda: taken_port)
    with pytest.raises(moto.PortTaken, match=r"moto_server exited early; see .*moto_server\.log"):
        moto.start_moto(tmp_path / "moto_server.log")
