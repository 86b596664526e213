"""A loopback HTTP server in front of moto that answers chosen AWS JSON-protocol calls with a
ThrottlingException, as an AWS service under load does, and forwards every other request to moto
unchanged. Point one service at it (AWS_ENDPOINT_URL_SECRETS_MANAGER) to throttle only that service.
Bounded: a thread per connection, every upstream call has a timeout, `close` stops it."""

from __future__ import annotations

import http.client
import http.server
import json
import threading
from urllib.parse import urlsplit

UPSTREAM_TIMEOUT_S = 30
THROTTLE_BODY = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()


class ThrottlingServer(http.server.ThreadingHTTPServer):
    """Answers 400 ThrottlingException to each request whose X-Amz-Target operation is in
    `operations` (e.g. {"CreateSecret"}; None: every call), counting them in `throttled`."""

    daemon_threads = True

    def __init__(self, upstream: str, operations: frozenset[str] | None = None) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.operations = operations
        self.throttled: list[str] = []
        super().__init__(("127.0.0.1", 0), _Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def __enter__(self):
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.shutdown()
        self.server_close()

    def throttles(self, target: str) -> bool:
        operation = target.rpartition(".")[2]
        return bool(target) and (self.operations is None or operation in self.operations)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore expects
    server: ThrottlingServer

    def log_message(self, *_: object) -> None:
        """Quiet: the test reads what was throttled from `server.throttled`."""

    def _relay(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        target = self.headers.get("X-Amz-Target", "")
        if self.server.throttles(target):
            self.server.throttled.append(target)
            self._answer(400, {"Content-Type": "application/x-amz-json-1.1"}, THROTTLE_BODY)
            return
        upstream = http.client.HTTPConnection(*self.server.upstream, timeout=UPSTREAM_TIMEOUT_S)
        try:
            upstream.request(self.command, self.path, body, dict(self.headers.items()))
            response = upstream.getresponse()
            headers = {k: v for k, v in response.getheaders() if k.lower() not in ("transfer-encoding", "connection")}
            self._answer(response.status, headers, response.read())
        finally:
            upstream.close()

    def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _relay
