"""The tests' SlowProxy forwards nothing once closed: a request its client gave up on must not reach the
upstream later, when the next test shares that moto_server (a held report from test_hostile.py's endpoint
that never answers landed in the next test's fleet: 31 gateways instead of 30)."""

from __future__ import annotations

import socket
import threading
import time

from tests.support.slow_proxy import SlowProxy
from tests.support.wire import Listener


class Recorder(Listener):
    """An upstream that keeps every byte it receives."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.connected = threading.Event()
        super().__init__()

    def handle(self, client: socket.socket) -> None:
        self.connected.set()
        while chunk := client.recv(4096):
            self.received += chunk


def test_a_chunk_held_when_the_proxy_closes_never_reaches_the_upstream():
    with Recorder() as upstream:
        proxy = SlowProxy(upstream.url, delay_s=0.5)
        with socket.create_connection(("127.0.0.1", proxy.port)) as client:
            client.sendall(b"PUT /report HTTP/1.1\r\n\r\n")
            assert upstream.connected.wait(5)
            proxy.close()  # the client gives up and the test ends, the chunk still held
            time.sleep(1.0)  # twice the delay: long past the moment it would have been forwarded
        assert upstream.received == b""


def test_while_open_it_forwards_after_the_delay():
    with Recorder() as upstream, SlowProxy(upstream.url, delay_s=0.2) as proxy:
        with socket.create_connection(("127.0.0.1", proxy.port)) as client:
            client.sendall(b"hello")
            deadline = time.monotonic() + 5
            while upstream.received != b"hello" and time.monotonic() < deadline:
                time.sleep(0.05)
        assert upstream.received == b"hello"
