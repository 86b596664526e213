"""Small servers on loopback for what a key meets on the wire, all bounded (threads end with
their connections, `close` stops the listener, every read and wait has a limit):

- Listener: what they share: a thread per connection, `with` stops it (slow_proxy.py uses it too).

- RecordingProxy: a real HTTP forward proxy (absolute-URI requests forwarded, CONNECT tunnelled)
  that keeps every byte clients send it, so a test can assert a key never reached it.
- TricklingServer: answers any request with a valid model list, but sends its headers one byte
  per `interval_s`: each read gets a byte well within a per-read timeout, so only a total
  deadline ends the wait. It stops after TRICKLE_LIMIT bytes and then finishes the answer.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from urllib.parse import urlsplit

READ_LIMIT = 1 << 20  # bytes a proxy keeps per connection
TRICKLE_LIMIT = 100  # bytes a trickling answer sends slowly before it completes
IDLE_S = 30.0


class Listener:
    """A loopback listener whose `handle(client)` runs in a thread per connection; the client
    socket is closed when `handle` returns, and a read waits at most `idle_s` (None: no limit)."""

    idle_s: float | None = IDLE_S

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._accept, daemon=True).start()

    def __enter__(self):
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            client.settimeout(self.idle_s)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with contextlib.suppress(OSError), client:
            self.handle(client)

    def handle(self, client: socket.socket) -> None:
        raise NotImplementedError


def read_head(connection: socket.socket, keep: bytearray | None = None) -> bytes:
    """The bytes up to and including the blank line that ends an HTTP head."""
    head = b""
    while b"\r\n\r\n" not in head and len(head) < READ_LIMIT:
        chunk = connection.recv(4096)
        if not chunk:
            break
        head += chunk
        if keep is not None:
            keep += chunk
    return head


class RecordingProxy(Listener):
    """An HTTP proxy that records what clients send it (`received`) and what they asked for (`requests`)."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.requests: list[str] = []
        super().__init__()

    def handle(self, client: socket.socket) -> None:
        head = read_head(client, self.received)
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        self.requests.append(request_line)
        method, target = [*request_line.split(" "), "", ""][:2]
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            upstream = socket.create_connection((host, int(port)), timeout=IDLE_S)
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            parts = urlsplit(target)
            upstream = socket.create_connection((parts.hostname or "", parts.port or 80), timeout=IDLE_S)
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            upstream.sendall(head.replace(target.encode(), path.encode(), 1))
        with upstream:
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            self._pipe(upstream, client, False)

    def _pipe(self, source: socket.socket, sink: socket.socket, record: bool) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                if record and len(self.received) < READ_LIMIT:
                    self.received += chunk
                sink.sendall(chunk)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


class TricklingServer(Listener):
    """Answers 200 with a model list, its head sent one byte per `interval_s` (`requests` counts them)."""

    def __init__(self, interval_s: float, model_ids: list[str]) -> None:
        self.interval_s = interval_s
        self.body = json.dumps({"object": "list", "data": [{"id": i, "object": "model"} for i in model_ids]}).encode()
        self.requests = 0
        super().__init__()

    def base_url(self, provider: str) -> str:
        return f"{self.url}/{provider}/v1"

    def handle(self, client: socket.socket) -> None:
        read_head(client)
        self.requests += 1
        client.sendall(b"HTTP/1.1 200 OK\r\nX-Trickle: ")
        for _ in range(TRICKLE_LIMIT):
            time.sleep(self.interval_s)
            client.sendall(b"a")
        client.sendall(b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                       % len(self.body) + self.body)
