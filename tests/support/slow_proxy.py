"""A TCP proxy on loopback that delays every chunk a client sends: makes an `up` slow enough that a
second one meets its lock, without touching the program under test. Bounded: threads end with
their connections, and `close` stops the listener and drops what it still holds."""

from __future__ import annotations

import contextlib
import socket
import threading
from urllib.parse import urlsplit

from tests.support.wire import Listener


class SlowProxy(Listener):
    """Forwards 127.0.0.1:<port> to `upstream` (http://host:port), `delay_s` seconds per client chunk."""

    idle_s = None  # an engine may keep a connection open and quiet for long

    def __init__(self, upstream: str, delay_s: float) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.delay_s = delay_s
        self._closed = threading.Event()
        super().__init__()

    def close(self) -> None:
        """Stop listening and forward nothing more: a chunk still held is dropped, so that a request its
        client gave up on never reaches the upstream after the test (the next test may share it)."""
        self._closed.set()
        super().close()

    def handle(self, client: socket.socket) -> None:
        server = socket.create_connection(self.upstream, timeout=30)
        threading.Thread(target=self._pipe, args=(server, client, 0.0), daemon=True).start()
        self._pipe(client, server, self.delay_s)

    def _pipe(self, source: socket.socket, sink: socket.socket, delay_s: float) -> None:
        with contextlib.suppress(OSError):
            while (chunk := source.recv(65536)) and not self._closed.wait(delay_s):
                sink.sendall(chunk)
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
