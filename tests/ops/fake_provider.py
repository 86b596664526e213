"""A fake Moonshot / Kimi Code API on loopback: real HTTP, `GET /<provider>/v1/models`.

Each provider accepts only the keys given to it with `accept`, so a Moonshot key fails at the
Kimi Code endpoint and the other way round, as at the real providers. Answers look like the
real ones (OpenAI-style model lists, 401 with an error object). The server records each
request's path and status only, never a header.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from kimi_infra.catalog import PROVIDERS


@dataclass
class Behaviour:
    """How the fake answers; tests change it between requests."""

    keys: dict[str, set[str]] = field(default_factory=lambda: {name: set() for name in PROVIDERS})
    models: dict[str, list[str]] = field(default_factory=lambda: {
        name: [model.definition.id for model in info.models] for name, info in PROVIDERS.items()})
    status: int | None = None  # answer every request with this status instead
    redirect_to: str | None = None  # answer 302 with this Location
    delay: float = 0.0  # seconds before answering
    body: bytes | None = None  # a 200 answer with this body instead of the model list


class FakeProvider:
    """`with FakeProvider() as fake:` serves on 127.0.0.1 until the block ends."""

    def __init__(self) -> None:
        self.behaviour = Behaviour()
        self.requests: list[tuple[str, int]] = []  # (path, status)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeProvider:
        self._thread.start()
        return self

    def __exit__(self, *_) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def root(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def base_url(self, provider: str) -> str:
        return f"{self.root}/{provider}/v1"

    def accept(self, provider: str, *keys: str) -> None:
        self.behaviour.keys[provider].update(keys)

    def answer(self, path: str, authorization: str | None) -> tuple[int, dict[str, str], bytes]:
        """Status, extra headers and body for one GET."""
        behaviour = self.behaviour
        time.sleep(behaviour.delay)
        if behaviour.redirect_to:
            return 302, {"Location": behaviour.redirect_to}, b""
        if behaviour.status:
            return behaviour.status, {}, _error("server_error", "the fake was told to fail")
        provider = _provider_of(path)
        if provider is None:
            return 404, {}, _error("not_found", "no such endpoint")
        token = (authorization or "").removeprefix("Bearer ")
        if token not in behaviour.keys[provider]:
            return 401, {}, _error("invalid_authentication_error", "Invalid Authentication")
        if behaviour.body is not None:
            return 200, {}, behaviour.body
        data = [{"id": model_id, "object": "model", "created": 0, "owned_by": provider}
                for model_id in behaviour.models[provider]]
        return 200, {}, json.dumps({"object": "list", "data": data}).encode()


def _provider_of(path: str) -> str | None:
    """`/moonshot/v1/models` -> moonshot; the fake serves each provider under its own prefix."""
    parts = path.split("?", 1)[0].strip("/").split("/")
    if len(parts) == 3 and parts[0] in PROVIDERS and parts[1:] == ["v1", "models"]:
        return parts[0]
    return None


def _error(kind: str, message: str) -> bytes:
    return json.dumps({"error": {"type": kind, "message": message}}).encode()


def _handler_for(fake: FakeProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, headers, body = fake.answer(self.path, self.headers.get("Authorization"))
            fake.requests.append((self.path, status))
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args) -> None:
            pass  # requests are recorded above, without headers

    return Handler
