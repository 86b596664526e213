"""The one HTTP client that talks to a provider: `GET <baseUrl>/models` with the key as a bearer token.

`rotate` uses it to prove a new key works before it becomes current; `catalog-check` uses it
to compare the provider's live model ids with ours. Plain urllib (no new dependency).

The key leaves us only in the Authorization header: it is never logged, never put in an error,
and never sent on a redirect (redirects are refused, so a key cannot follow one to another host)
or over plain http to anything but this machine. Plain http never goes through a proxy
(`http_proxy` would receive the header in clear); https may, through a CONNECT tunnel that the
proxy cannot read. Each check has one total deadline: a server that trickles a byte at a time
cannot keep `set-key` or `rotate` (and the rotation lock it holds) waiting.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kimi_infra.base_urls import is_loopback_host
from kimi_infra.key_rules import VerifyError, check_key_text
from kimi_infra.secret import Secret

TIMEOUT_SECONDS = 20.0
"""The default deadline of one check, from the first byte sent to the last byte read."""
NETWORK_FIX = "check network or use --verify-base-url / --skip-verify"
_WRONG_KEY_FIXES = {
    "moonshot": "check the key is a Moonshot Open Platform key (Kimi Code keys do not work here)",
    "kimi-code": "check the key is a Kimi Code key (Moonshot Open Platform keys do not work here)",
}


@dataclass(frozen=True)
class ModelsAnswer:
    """A 200 answer from `<baseUrl>/models`."""

    provider: str
    url: str
    status: int
    body: bytes

    def model_ids(self) -> list[str]:
        """The ids of an OpenAI-style list: `{"data": [{"id": ...}, ...]}`."""
        try:
            entries = json.loads(self.body)["data"]
            ids = [entry["id"] for entry in entries]
        except (ValueError, KeyError, TypeError):
            raise VerifyError('the answer is not an OpenAI-style model list ({"data": [{"id": ...}]})',
                              where=f"{self.provider} at {self.url}", fix="check the base URL points at the API") \
                from None
        if not all(isinstance(model_id, str) for model_id in ids):
            raise VerifyError("a model id is not a string", where=f"{self.provider} at {self.url}",
                              fix="check the base URL")
        return ids


def check_base_url(provider: str, base_url: str) -> None:
    """Refuse a base URL a key must not be sent to, before anything else happens (no prompt, no write)."""
    _check_url(provider, models_url(base_url))


def models_url(base_url: str) -> str:
    return base_url.rstrip("/") + "/models"


def get_models(provider: str, base_url: str, key: Secret, timeout: float | None = None) -> ModelsAnswer:
    """`GET <base_url>/models` with `key`; VerifyError unless the provider answers 200 within
    `timeout` seconds in all (name lookup, connect, proxy tunnel, TLS, headers and body;
    None: TIMEOUT_SECONDS)."""
    url = models_url(base_url)
    _check_url(provider, url)
    check_key_text(provider, key)
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key.reveal()}",
                                                   "Accept": "application/json"})
    try:
        status, body = _Exchange(request).run(TIMEOUT_SECONDS if timeout is None else timeout)
        answer = ModelsAnswer(provider, url, status, body)
    except urllib.error.HTTPError as error:
        raise _http_failure(provider, url, error.code) from None
    except urllib.error.URLError as error:
        raise _unreachable(provider, url, error.reason) from None
    except (OSError, http.client.HTTPException) as error:  # timeouts and resets while reading
        raise _unreachable(provider, url, error) from None
    if answer.status != 200:  # urllib passes any 2xx; only 200 carries a model list
        raise _http_failure(provider, url, answer.status)
    return answer


@dataclass(frozen=True)
class CatalogDiff:
    """Live model ids against ours: `new` are live but not ours, `missing` ours but not live."""

    new: tuple[str, ...]
    missing: tuple[str, ...]

    @property
    def equal(self) -> bool:
        return not self.new and not self.missing


def compare_ids(live: list[str], ours: list[str]) -> CatalogDiff:
    return CatalogDiff(tuple(sorted(set(live) - set(ours))), tuple(sorted(set(ours) - set(live))))


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """urllib would resend every header, Authorization too, to wherever a redirect points."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # urllib then raises HTTPError with the 3xx code


class _Exchange:
    """One request under one total deadline. urllib's timeout bounds each socket call, not the
    whole: the request runs in a worker thread the caller waits for; at the deadline the
    connection is shut down (which wakes a blocked read) and the caller gets TimeoutError."""

    def __init__(self, request: urllib.request.Request) -> None:
        self.request = request
        self.connections: list[http.client.HTTPConnection] = []
        self.outcome: tuple[int, bytes] | BaseException = TimeoutError()
        self.lock = threading.Lock()  # the worker appends connections while the caller may cut them

    def run(self, timeout: float) -> tuple[int, bytes]:
        worker = threading.Thread(target=self._fetch, args=(timeout,), name="kimi-infra-verify", daemon=True)
        worker.start()
        worker.join(timeout)
        if worker.is_alive():
            self._cut()
            raise TimeoutError
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome

    def _fetch(self, timeout: float) -> None:
        try:
            with self._opener().open(self.request, timeout=timeout) as response:
                self.outcome = (response.status, response.read())
        except BaseException as error:  # handed to the caller's thread
            self.outcome = error

    def _opener(self) -> urllib.request.OpenerDirector:
        # Plain http goes only to this machine (`_check_url`), and never through a proxy: the
        # proxy would read the Authorization header. https keeps the environment's proxy, which
        # only tunnels (CONNECT) the encrypted bytes.
        proxies = urllib.request.ProxyHandler({} if self.request.type == "http" else None)
        return urllib.request.build_opener(proxies, _NoRedirects, _HttpHandler(self), _HttpsHandler(self))

    def connection_class(self, kind: type[http.client.HTTPConnection]) -> Callable[..., http.client.HTTPConnection]:
        """What urllib calls to make a connection of `kind`: one this exchange can cut."""
        def make(host: str, **options: Any) -> http.client.HTTPConnection:
            connection = kind(host, **options)
            with self.lock:
                self.connections.append(connection)
            return connection
        return make

    def _cut(self) -> None:
        with self.lock:
            for connection in self.connections:
                with contextlib.suppress(OSError, AttributeError):  # not connected yet, or closed
                    connection.sock.shutdown(socket.SHUT_RDWR)


class _HttpHandler(urllib.request.HTTPHandler):
    """urllib's http handler, its connections tracked by `exchange` (so the deadline can cut them)."""

    def __init__(self, exchange: _Exchange) -> None:
        super().__init__()
        self.exchange = exchange

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self.exchange.connection_class(http.client.HTTPConnection), req)


class _HttpsHandler(urllib.request.HTTPSHandler):
    """urllib's https handler (default TLS context: certificate and host name checked), tracked."""

    def __init__(self, exchange: _Exchange) -> None:
        super().__init__()
        self.exchange = exchange

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self.exchange.connection_class(http.client.HTTPSConnection), req,
                            context=self._context)  # type: ignore[attr-defined]


def _check_url(provider: str, url: str) -> None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and is_loopback_host(parts.hostname):
        return
    raise VerifyError(f"will not send the key to {url}: only https (or http to this machine) is allowed",
                      where=provider, fix="give an https:// base URL")


def _http_failure(provider: str, url: str, code: int) -> VerifyError:
    # The answer's body is never copied: a provider may echo what it was sent.
    if code in (401, 403):
        return VerifyError(f"{provider} rejected the key at {url} (HTTP {code})", where=f"{provider} API",
                           fix=_WRONG_KEY_FIXES[provider])
    if 300 <= code < 400:
        problem, fix = "redirects elsewhere (not followed, so the key went nowhere else)", "give the final base URL"
    elif code == 404:
        problem, fix = "has no such endpoint", "check the base URL (it ends in /v1, and /models is added)"
    elif code == 429:
        problem, fix = "is rate limiting", "wait a minute and run again"
    else:
        problem, fix = "failed", f"run again later; {NETWORK_FIX}"
    return VerifyError(f"{provider} at {url} {problem} (HTTP {code})", where=f"{provider} API", fix=fix)


def _unreachable(provider: str, url: str, reason: object) -> VerifyError:
    return VerifyError(f"cannot reach {provider} at {url} ({_describe(reason)})", where=f"{provider} API",
                       fix=NETWORK_FIX)


def _describe(reason: object) -> str:
    """A short, curated reason: the class and OS message, never a request or response text."""
    if isinstance(reason, TimeoutError):
        return "timed out"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return type(reason).__name__ if isinstance(reason, BaseException) else "network error"
