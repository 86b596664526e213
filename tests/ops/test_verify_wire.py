"""Where a key goes when `set-key` and `rotate` verify it, and how long they wait (issue 20,
findings 6 and 7). Real subprocess CLI runs; a real recording HTTP proxy, the fake provider and a
trickling server, all on loopback; the real local store."""

from __future__ import annotations

import pytest

from kimi_infra.ops.verify import VerifyError, get_models
from kimi_infra.secret import Secret
from kimi_infra.stackfile import load_stack
from kimi_infra.stores import open_store
from tests.support.fake_provider import FakeProvider
from tests.support.project import CANARY_KEY, dev_like, make_project, run_cli
from tests.support.wire import RecordingProxy, TricklingServer

KEY = CANARY_KEY.replace("CANARY", "WIRE")
NEW = CANARY_KEY.replace("CANARY", "WIRENEW")
DEADLINE = {"KIMI_INFRA_VERIFY_TIMEOUT": "1"}
TRICKLE_S = 0.1  # a byte per 0.1 s: far inside any per-read timeout, so only a total deadline ends it


@pytest.fixture
def project(tmp_path):
    return make_project(tmp_path, {"t": dev_like(keyMode="reference")})  # rotate writes no target


@pytest.fixture
def fake():
    with FakeProvider() as server:
        server.accept("moonshot", KEY, NEW)
        yield server


@pytest.fixture
def proxy():
    with RecordingProxy() as server:
        yield server


@pytest.fixture
def trickling():
    with TricklingServer(TRICKLE_S, ["kimi-k2-0905-preview"]) as server:
        yield server


def through(proxy: RecordingProxy) -> dict[str, str]:
    """Every proxy variable urllib reads pointing at `proxy`, and nothing exempt from it."""
    return {"http_proxy": proxy.url, "HTTP_PROXY": proxy.url, "https_proxy": proxy.url, "HTTPS_PROXY": proxy.url,
            "no_proxy": "", "NO_PROXY": ""}


def cli(project, command: str, url: str, key: str, *extra: str, env: dict[str, str] | None = None):
    return run_cli("--project-dir", str(project), command, "-s", "t", "-p", "moonshot", "--key-stdin",
                   "--verify-base-url", url, *extra, stdin=key, env=env)


def stages(project) -> dict[str, str | None]:
    store = open_store(load_stack(project, "t").spec, "moonshot", project)
    if not store.exists():
        return {}
    return {stage: (value.reveal() if (value := store.get(stage)) else None) for stage in ("current", "pending")}


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error")]


# --- finding 6: no key through a proxy over plain http --------------------------------------------


def test_set_key_over_plain_http_bypasses_the_proxy(project, fake, proxy):
    result = cli(project, "set-key", fake.base_url("moonshot"), KEY, env=through(proxy))
    assert result.returncode == 0, result.stderr
    assert KEY.encode() not in proxy.received and proxy.requests == []
    assert [(r.path, r.key) for r in fake.requests] == [("/moonshot/v1/models", KEY)]  # verified directly
    assert stages(project)["current"] == KEY


def test_rotate_over_plain_http_bypasses_the_proxy(project, fake, proxy):
    assert cli(project, "set-key", fake.base_url("moonshot"), KEY, "--skip-verify").returncode == 0
    result = cli(project, "rotate", fake.base_url("moonshot"), NEW, env=through(proxy))
    assert result.returncode == 0, result.stderr
    assert NEW.encode() not in proxy.received and proxy.requests == []
    assert stages(project) == {"current": NEW, "pending": None}


def test_https_still_uses_the_proxy_but_only_as_a_tunnel(project, fake, proxy):
    """https keeps the proxy (CONNECT): the proxy relays the TLS bytes it cannot read. The fake
    speaks plain http, so the handshake fails and nothing is stored."""
    port = fake.root.rsplit(":", 1)[1]
    result = cli(project, "set-key", f"https://127.0.0.1:{port}/moonshot/v1", KEY, env=through(proxy))
    assert result.returncode == 2 and len(error_lines(result.stderr)) == 1, result.stderr
    assert [line.rsplit(" ", 1)[0] for line in proxy.requests] == [f"CONNECT 127.0.0.1:{port}"]
    assert KEY.encode() not in proxy.received and KEY not in result.stdout + result.stderr
    assert stages(project) == {}


# --- finding 7: one total deadline per verification ------------------------------------------------


def test_get_models_ends_at_its_deadline_while_bytes_still_trickle(trickling):
    with pytest.raises(VerifyError, match="timed out") as raised:
        get_models("moonshot", trickling.base_url("moonshot"), Secret(KEY), timeout=0.5)
    assert KEY not in str(raised.value)


def test_set_key_ends_at_the_deadline_and_stores_nothing(project, trickling):
    result = cli(project, "set-key", trickling.base_url("moonshot"), KEY, env=DEADLINE)
    assert result.returncode == 2, result.stderr
    assert len(error_lines(result.stderr)) == 1 and "timed out" in result.stderr
    assert trickling.requests == 1 and stages(project) == {}
    assert KEY not in result.stdout + result.stderr


def test_rotate_ends_at_the_deadline_keeps_the_current_key_and_frees_the_lock(project, fake, trickling):
    assert cli(project, "set-key", fake.base_url("moonshot"), KEY, "--skip-verify").returncode == 0
    result = cli(project, "rotate", trickling.base_url("moonshot"), NEW, env=DEADLINE)
    assert result.returncode == 2, result.stderr
    assert len(error_lines(result.stderr)) == 1 and "timed out" in result.stderr
    assert "pending version discarded, current key unchanged" in result.stderr
    assert stages(project) == {"current": KEY, "pending": None}
    again = cli(project, "rotate", fake.base_url("moonshot"), NEW)  # the rotation lock is free
    assert again.returncode == 0, again.stderr
    assert stages(project) == {"current": NEW, "pending": None}
