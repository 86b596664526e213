"""A fake Moonshot / Kimi Code API on loopback: real HTTP, OpenAI-compatible.

    GET  /<provider>/v1/models            an OpenAI-style model list
    POST /<provider>/v1/chat/completions  a chat answer, plain JSON or SSE (`"stream": true`)

Each provider accepts only the keys given to it with `accept`, so a Moonshot key fails at the
Kimi Code endpoint and the other way round, as at the real providers; `revoke` takes a key back.
Answers look like the real ones (401 with an error object). The fake records every request:
method, path, the bearer key and the User-Agent it carried (the keys are test keys), and status.

Bounded: it binds 127.0.0.1 only, reads at most MAX_BODY bytes of a request, keeps the last
MAX_RECORDS records, and holds a request at most HOLD_LIMIT_S seconds.

`hold()` keeps chat requests in flight until `release()`; the key is checked when a chat request
is answered, as a provider that checks it per token batch would: a key revoked while a request
is in flight fails that request. Tests use this to put requests in flight with a given key.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from kimi_infra.catalog import PROVIDERS

MAX_BODY = 1 << 20
MAX_RECORDS = 100_000
HOLD_LIMIT_S = 60.0
_ROUTES = {("GET", "models"), ("POST", "chat/completions")}


@dataclass
class Behaviour:
    """How the fake answers; tests change it between requests."""

    keys: dict[str, set[str]] = field(default_factory=lambda: {name: set() for name in PROVIDERS})
    models: dict[str, list[str]] = field(default_factory=lambda: {
        name: [model.definition.id for model in info.models] for name, info in PROVIDERS.items()})
    status: int | None = None  # answer every request with this status instead
    redirect_to: str | None = None  # answer 302 with this Location
    delay: float = 0.0  # seconds before answering any request
    body: bytes | None = None  # a 200 answer to GET models with this body instead of the model list


@dataclass(frozen=True)
class Request:
    """One request the fake answered: what it carried and what it got."""

    method: str
    path: str
    provider: str | None
    key: str | None
    user_agent: str | None
    stream: bool
    status: int
    prompt: str  # the start of the first user message (200 characters): tests put a marker there


@dataclass(frozen=True)
class _Call:
    """A parsed request, before the fake answers it."""

    method: str
    path: str
    provider: str | None
    route: str | None
    key: str | None
    body: dict


class FakeProvider:
    """`with FakeProvider() as fake:` serves on 127.0.0.1 until the block ends."""

    def __init__(self) -> None:
        self.behaviour = Behaviour()
        self.requests: list[Request] = []  # the last MAX_RECORDS, oldest first
        self._lock = threading.Lock()
        self._open = threading.Event()  # cleared while chat requests are held
        self._open.set()
        self._in_flight: dict[str | None, int] = {}  # key -> chat requests being answered
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
        """From now on `keys` are valid for `provider`."""
        with self._lock:
            self.behaviour.keys[provider].update(keys)

    def revoke(self, provider: str, *keys: str) -> None:
        """From now on `keys` are rejected by `provider` (401), in-flight requests included."""
        with self._lock:
            self.behaviour.keys[provider].difference_update(keys)

    def hold(self) -> None:
        """From now on chat requests wait (at most HOLD_LIMIT_S) until `release()`."""
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def in_flight(self, key: str) -> int:
        """How many chat requests carrying `key` are being answered now."""
        with self._lock:
            return self._in_flight.get(key, 0)

    def is_valid(self, provider: str, key: str | None) -> bool:
        with self._lock:
            return key in self.behaviour.keys[provider]

    def record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)
            del self.requests[:-MAX_RECORDS]

    def chats(self) -> list[Request]:
        """The chat requests so far, oldest first."""
        return [r for r in list(self.requests) if r.path.endswith("/chat/completions")]

    def answer(self, call: _Call) -> tuple[int, dict[str, str], bytes | list[bytes]]:
        """Status, extra headers and body (one piece, or SSE events) for one request."""
        behaviour = self.behaviour
        time.sleep(behaviour.delay)
        if behaviour.redirect_to:
            return 302, {"Location": behaviour.redirect_to}, b""
        if behaviour.status:
            return behaviour.status, {}, _error("server_error", "the fake was told to fail")
        if call.provider is None or call.route is None:
            return 404, {}, _error("not_found", "no such endpoint")
        if call.route == "chat/completions":
            self._wait_while_held(call.key)
        if not self.is_valid(call.provider, call.key):
            return 401, {}, _error("invalid_authentication_error", "Invalid Authentication")
        if call.route == "models":
            return 200, {}, self._models_body(call.provider)
        return _chat_answer(call)

    def _wait_while_held(self, key: str | None) -> None:
        with self._lock:
            self._in_flight[key] = self._in_flight.get(key, 0) + 1
        try:
            self._open.wait(HOLD_LIMIT_S)
        finally:
            with self._lock:
                self._in_flight[key] -= 1

    def _models_body(self, provider: str) -> bytes:
        if self.behaviour.body is not None:
            return self.behaviour.body
        data = [{"id": model_id, "object": "model", "created": 0, "owned_by": provider}
                for model_id in self.behaviour.models[provider]]
        return json.dumps({"object": "list", "data": data}).encode()


def _chat_answer(call: _Call) -> tuple[int, dict[str, str], bytes | list[bytes]]:
    model = str(call.body.get("model", "unknown"))
    text = f"pong from {call.provider}"
    base = {"id": "chatcmpl-fake", "created": 0, "model": model}
    if not call.body.get("stream"):
        message = {"role": "assistant", "content": text}
        return 200, {}, json.dumps({**base, "object": "chat.completion", "choices": [
            {"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4}}).encode()
    chunk = {**base, "object": "chat.completion.chunk"}
    deltas = [{"role": "assistant", "content": ""}, {"content": text}]
    events = [{**chunk, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]} for delta in deltas]
    events.append({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                   "usage": {"prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4}})
    sse = [f"data: {json.dumps(event)}\n\n".encode() for event in events] + [b"data: [DONE]\n\n"]
    return 200, {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}, sse


def _first_user_text(body: dict) -> str:
    messages = body.get("messages") if isinstance(body.get("messages"), list) else []
    users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    if not users:
        return ""
    content = users[0].get("content")
    if isinstance(content, list):  # content parts: [{"type": "text", "text": ...}, ...]
        content = " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content)[:200]


def _route(path: str) -> tuple[str | None, str | None]:
    """`/moonshot/v1/chat/completions` -> (moonshot, chat/completions); each provider has its prefix."""
    parts = path.split("?", 1)[0].strip("/").split("/")
    if len(parts) < 3 or parts[0] not in PROVIDERS or parts[1] != "v1":
        return None, None
    return parts[0], "/".join(parts[2:])


def _error(kind: str, message: str) -> bytes:
    return json.dumps({"error": {"type": kind, "message": message}}).encode()


def _handler_for(fake: FakeProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the gateway's HTTP client expects

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._send(413, {}, _error("too_large", "request body too large"))
                self.close_connection = True
                return
            call = self._parse(self.rfile.read(length) if length else b"")
            status, headers, body = fake.answer(call)
            fake.record(Request(call.method, call.path, call.provider, call.key, self.headers.get("User-Agent"),
                                bool(call.body.get("stream")), status, _first_user_text(call.body)))
            self._send(status, headers, body)

        def _parse(self, raw: bytes) -> _Call:
            provider, route = _route(self.path)
            if (self.command, route) not in _ROUTES:
                route = None
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                body = {}
            authorization = self.headers.get("Authorization") or ""
            key = authorization.removeprefix("Bearer ") if authorization.startswith("Bearer ") else None
            return _Call(self.command, self.path, provider, route, key, body if isinstance(body, dict) else {})

        def _send(self, status: int, headers: dict[str, str], body: bytes | list[bytes]) -> None:
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(name, value)
            if isinstance(body, list):  # SSE: chunked, one event at a time
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for event in body:
                    self.wfile.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
                return
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args) -> None:
            pass  # requests are recorded in fake.requests

    return Handler
