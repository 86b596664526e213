"""secretref on the real gateway, and key rotation while it serves: no request may fail.

One gateway for the module, on a secretref stack deployed on this module's moto_server. The
tests run in file order and share it: the revoke-at-once test leaves kimi-code locked out of
the gateway for about a minute (OpenClaw's reaction to a 401), so later tests use moonshot; the
store-outage test stops moto_server, so it comes last.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kimi_infra.catalog import PROVIDERS, secret_id
from kimi_infra.ops.reload import ReloadError, reload_gateway
from tests.support.fake_provider import FakeProvider
from tests.support.gateway import REQUEST_TIMEOUT_S, Chat, Gateway, Load
from tests.support.gateway_stack import (
    FIGURES,
    DeployedStack,
    aws_env,
    deploy_stack,
    latency_line,
    start_gateway,
    warm_up,
)
from tests.support.moto import stop_moto

pytestmark = pytest.mark.gateway

ROTATIONS = 20
MIN_REQUESTS = 300
GRACE_S = 15.0  # the documented wait before revoking: longer than the longest request (see revoke_after_grace)
CLIENTS = 4


@pytest.fixture(scope="module")
def stack(tmp_path_factory, moto, fake, resolver) -> DeployedStack:
    return deploy_stack(tmp_path_factory.mktemp("gw-secretref"), "secretref", moto, fake, resolver)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, openclaw_launcher, stack) -> Iterator[Gateway]:
    with start_gateway(openclaw_launcher, stack, tmp_path_factory.mktemp("gw-secretref-home")) as running:
        for chat in warm_up(running):
            assert chat.ok, (chat, running.log_text()[-3000:])
        yield running


def new_key(provider: str, index: int) -> str:
    return f"sk-{provider}-rot-{index:03d}-" + "r" * 24


def rotate(stack: DeployedStack, gateway: Gateway, provider: str, key: str, *extra: str) -> subprocess.CompletedProcess:
    """`rotate` as an operator on the gateway host runs it: verified at the fake, then the gateway reloaded."""
    return stack.cli("rotate", "-s", stack.name, "-p", provider, "--key-stdin",
                     "--verify-base-url", stack.fake.base_url(provider),
                     "--reload-gateway", "--openclaw", str(gateway.launcher), *extra,
                     env=gateway.env, stdin=key)


def upstream_keys(fake: FakeProvider, chats: list[Chat]) -> dict[str, str | None]:
    """Marker -> the key the provider saw for that chat (None if it never reached the provider)."""
    seen: dict[str, str | None] = {}
    for record in fake.chats():
        found = re.search(r"ping (\S+)", record.prompt)
        if found:
            seen[found.group(1)] = record.key
    return {chat.marker: seen.get(chat.marker) for chat in chats}


def failures(chats: list[Chat]) -> list[Chat]:
    return [chat for chat in chats if not chat.ok]


def test_secretref_each_provider_gets_the_stores_key(stack: DeployedStack, gateway: Gateway, fake: FakeProvider):
    for provider in PROVIDERS:
        chat = gateway.chat(provider, f"secretref-{provider}")
        assert chat.ok, chat
        assert upstream_keys(fake, [chat]) == {chat.marker: stack.store_key(provider)}


def test_a_key_the_provider_rejects_is_refused_and_serving_goes_on(stack: DeployedStack, gateway: Gateway,
                                                                      fake: FakeProvider):
    current = stack.store_key("moonshot")
    with Load(gateway, "moonshot", CLIENTS) as load:
        result = rotate(stack, gateway, "moonshot", "sk-moonshot-never-accepted-0000000000")
        time.sleep(1.0)  # requests after the refused rotation too
    assert result.returncode == 2
    assert "moonshot rejected the key" in result.stderr and "current key unchanged" in result.stderr
    assert "secrets reload" not in result.stderr.split("rejected the key")[1]  # refused before any reload
    assert stack.store_key("moonshot") == current
    assert load.results and failures(load.results) == []
    assert set(upstream_keys(fake, load.results).values()) == {current}


def test_twenty_rotations_under_load_fail_no_request(stack: DeployedStack, gateway: Gateway, fake: FakeProvider):
    provider = "moonshot"
    keys = [stack.store_key(provider)] + [new_key(provider, i) for i in range(1, ROTATIONS + 1)]
    reloaded_at: list[float] = []  # when rotation i's reload had finished (client clock)
    rotate_seconds: list[float] = []
    reload_seconds: list[float] = []  # `openclaw secrets reload` as rotate --reload-gateway ran it
    revocations: list[threading.Thread] = []
    with Load(gateway, provider, CLIENTS) as load:
        while load.sent() < 12:  # "before": the steady state
            time.sleep(0.2)
        before = len(load.results)
        for index in range(1, ROTATIONS + 1):
            fake.accept(provider, keys[index])  # the provider issued the new key
            started = time.monotonic()
            result = rotate(stack, gateway, provider, keys[index])
            rotate_seconds.append(time.monotonic() - started)
            assert result.returncode == 0, result.stderr
            reloaded = re.search(r"the gateway reloaded its secrets \(`openclaw secrets reload`, ([0-9.]+) s\)",
                                 result.stderr)
            assert reloaded, result.stderr
            reload_seconds.append(float(reloaded.group(1)))
            reloaded_at.append(time.monotonic())
            # Revoke the old key only after the grace period; the next rotation need not wait.
            revocation = threading.Thread(target=revoke_after_grace,
                                          args=(fake, load, provider, keys[index - 1], reloaded_at[-1]))
            revocation.start()
            revocations.append(revocation)
        during = len(load.results)
        for revocation in revocations:
            revocation.join()
        while len(load.results) < max(MIN_REQUESTS, during + 30):  # "after": every old key revoked
            time.sleep(0.2)
    chats = sorted(load.results, key=lambda chat: chat.sent)
    seen = upstream_keys(fake, chats)
    index_of = {key: i for i, key in enumerate(keys)}
    stale = [(chat.marker, i, index_of.get(seen[chat.marker]))
             for i, moment in enumerate(reloaded_at, start=1) for chat in chats
             if chat.sent > moment and index_of.get(seen[chat.marker], -1) < i]

    FIGURES["rotation"].append(f"{ROTATIONS} rotations (rotate + verify + reload), "
                               f"{_median(rotate_seconds):.1f} s median, {max(rotate_seconds):.1f} s max each; "
                               f"of which the reload (CLI) {_median(reload_seconds):.1f} s median, "
                               f"{max(reload_seconds):.1f} s max")
    FIGURES["rotation"].append(f"requests sent {len(chats)}, failed {len(failures(chats))}, clients {CLIENTS}, "
                               f"longest {max(chat.seconds for chat in chats):.1f} s (grace period {GRACE_S:.0f} s)")
    for label, part in (("before", chats[:before]), ("during", chats[before:during]), ("after", chats[during:])):
        FIGURES["latency"].append(latency_line(label, part))
    assert len(chats) >= MIN_REQUESTS
    assert failures(chats) == []
    assert stale == []  # after each reload, every request carries that rotation's key (or a newer one)
    assert fake.behaviour.keys[provider] == {keys[-1]} and stack.store_key(provider) == keys[-1]


def test_revoking_at_once_fails_in_flight_requests_a_grace_period_fails_none(
        stack: DeployedStack, gateway: Gateway, fake: FakeProvider):
    """The fake holds requests in flight (with the old key) while the gateway reloads. Revoked after
    the grace period, the old key fails nothing; revoked at once, it fails those requests."""
    provider = "kimi-code"
    keys = [stack.store_key(provider), new_key(provider, 1), new_key(provider, 2)]
    outcomes: dict[bool, list[Chat]] = {}
    caught: dict[bool, int] = {}
    for index, at_once in ((1, False), (2, True)):
        old = keys[index - 1]
        fake.accept(provider, keys[index])
        fake.hold()
        try:
            with Load(gateway, provider, CLIENTS) as load:
                wait_for(lambda: fake.in_flight(old) >= 1)  # noqa: B023 - used within the iteration
                result = rotate(stack, gateway, provider, keys[index])
                reloaded = time.monotonic()
                assert result.returncode == 0, result.stderr
                caught[at_once] = fake.in_flight(old)
                if at_once:
                    fake.revoke(provider, old)
                fake.release()
                if not at_once:
                    revoke_after_grace(fake, load, provider, old, reloaded)
                time.sleep(2.0)
        finally:
            fake.release()
        outcomes[at_once] = load.results
    graced, immediate = outcomes[False], outcomes[True]
    FIGURES["revocation"].append(f"old key revoked {GRACE_S:.0f} s after the reload: {len(graced)} requests "
                                 f"({caught[False]} in flight at the reload), {len(failures(graced))} failed")
    FIGURES["revocation"].append(f"old key revoked at once: {len(immediate)} requests ({caught[True]} in flight "
                                 f"at the reload), {len(failures(immediate))} failed")
    assert graced and failures(graced) == []
    assert len(failures(immediate)) >= caught[True] >= 1
    assert 401 in {r.status for r in fake.chats() if r.key == keys[1]}


def revoke_after_grace(fake: FakeProvider, load: Load, provider: str, key: str, reloaded: float) -> None:
    """Revoke `key` as the README says, after a grace period longer than the longest request: GRACE_S after
    the reload (time.monotonic() `reloaded`), and not while a request sent before the reload is still in
    flight (on a loaded machine requests took 27 s, and a fixed 15 s revoked a key that requests still carried)."""
    time.sleep(max(0.0, reloaded + GRACE_S - time.monotonic()))
    wait_for(lambda: load.done_with_requests_before(reloaded), limit_s=REQUEST_TIMEOUT_S)
    fake.revoke(provider, key)


def wait_for(condition, limit_s: float = 60.0) -> None:
    """Poll `condition` until it holds; fail after `limit_s` (a hung setup, not a timing assertion)."""
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def test_rotate_says_when_the_gateway_reload_fails(stack: DeployedStack, gateway: Gateway, fake: FakeProvider):
    key = new_key("moonshot", 99)
    fake.accept("moonshot", key)
    result = rotate(stack, gateway, "moonshot", key, "--openclaw", "/bin/false")
    assert result.returncode == 2
    assert "the new key is current in the store, but `openclaw secrets reload` failed (exit 1)" in result.stderr
    assert "do not revoke it yet" in result.stderr and key not in result.stderr
    assert stack.store_key("moonshot") == key
    reload = gateway.reload()  # what the operator does next
    assert reload.ok, reload.output
    chat = gateway.chat("moonshot", "after-failed-reload")
    assert chat.ok and upstream_keys(fake, [chat]) == {chat.marker: key}


def test_store_unreachable_during_a_reload_keeps_the_last_good_key(stack: DeployedStack, gateway: Gateway,
                                                                  fake: FakeProvider, moto, monkeypatch):
    last_good = stack.store_key("moonshot")
    with Load(gateway, "moonshot", CLIENTS) as load:
        while load.sent() < CLIENTS:
            time.sleep(0.1)
        stop_moto(moto)  # the store is gone
        reload = gateway.reload()
        time.sleep(2.0)
    FIGURES["store outage"].append(f"reload with the store down: exit {reload.returncode} in {reload.seconds:.1f} s; "
                                   f"{len(load.results)} requests, {len(failures(load.results))} failed")
    # OpenClaw answers ok, with warnings, and keeps the last good key; rotate --reload-gateway calls that a failure.
    assert reload.ok and reload.data["warningCount"] >= 1, reload.output
    for name, value in gateway.env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ReloadError, match=r"answered ok with [0-9]+ warning"):
        reload_gateway(str(gateway.launcher), f"{stack.name}/moonshot", lambda _: None)
    assert failures(load.results) == []
    assert set(upstream_keys(fake, load.results).values()) == {last_good}
    log = gateway.log_text()  # openclaw 2026.9.6 logs SECRETS_DEGRADED (the issue said SECRETS_PROVIDER_DEGRADED)
    assert "SECRETS_DEGRADED" in log and "provider:moonshot is using last-known-good" in log
    status = stack.cli("status", "--stack", stack.name)
    assert status.returncode == 2
    key_line = next(line for line in status.stdout.splitlines() if line.startswith("key moonshot"))
    FIGURES["store outage"].append(f"status: {key_line}")
    assert secret_id(stack.name, "moonshot") in key_line and "error" in key_line, status.stdout
    resolved = _resolve_like_openclaw(stack, gateway)
    assert resolved["errors"][secret_id(stack.name, "moonshot")]["code"] == "UNAVAILABLE"


def _resolve_like_openclaw(stack: DeployedStack, gateway: Gateway) -> dict:
    """Run our resolver as the gateway does (its args from the deployed config, only passEnv variables)."""
    import json5

    provider = json5.loads(stack.deployed.read_text())["secrets"]["providers"]["kimi-infra"]
    request = {"protocolVersion": 1, "provider": "kimi-infra", "ids": [secret_id(stack.name, "moonshot")]}
    env = {name: value for name, value in {**aws_env(stack.moto), "HOME": str(gateway.home)}.items()
           if name in provider["passEnv"]}
    result = subprocess.run([provider["command"], *provider["args"]], input=json.dumps(request), env=env,
                            cwd=Path(provider["command"]).parent, capture_output=True, text=True, timeout=60)
    FIGURES["store outage"].append(f"resolver: {result.stderr.strip().splitlines()[-1] if result.stderr else ''}")
    assert "kimi-infra/gw-secretref/moonshot" in result.stderr or stack.moto.endpoint in result.stderr, result.stderr
    return json.loads(result.stdout)


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]
