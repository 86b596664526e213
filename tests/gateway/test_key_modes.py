"""Reference and inline key modes on the real gateway: a chat request through it reaches the
provider with the key our store holds, for both providers (secretref: test_rotation.py, which
shares its gateway with the rotation tests)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import pytest

from kimi_infra.catalog import PROVIDERS
from tests.support.fake_provider import FakeProvider
from tests.support.gateway import Gateway
from tests.support.gateway_stack import DeployedStack, deploy_stack, start_gateway, warm_up

pytestmark = pytest.mark.gateway


MODES = ("reference", "inline")


@pytest.fixture(scope="module")
def gateways(tmp_path_factory, openclaw_launcher, resolver, moto, fake,
             ) -> Iterator[dict[str, tuple[DeployedStack, Gateway]]]:
    """One gateway per mode, started side by side (a start is mostly waiting)."""
    stacks = {mode: deploy_stack(tmp_path_factory.mktemp(f"gw-{mode}"), mode, moto, fake, resolver) for mode in MODES}
    with ThreadPoolExecutor(len(MODES)) as pool:
        starts = {mode: pool.submit(start_gateway, openclaw_launcher, stack, stack.project.parent / "home")
                  for mode, stack in stacks.items()}
    with ExitStack() as running:
        for future in starts.values():  # stop every gateway that started, even if another failed
            if future.exception() is None:
                running.callback(future.result().stop)
        started = {mode: (stacks[mode], future.result()) for mode, future in starts.items()}
        with ThreadPoolExecutor(len(MODES)) as pool:
            warm = {mode: pool.submit(warm_up, gateway) for mode, (_, gateway) in started.items()}
        for mode, future in warm.items():
            for chat in future.result():
                assert chat.ok, (chat, started[mode][1].log_text()[-3000:])
        yield started


@pytest.mark.parametrize("mode", MODES)
def test_each_provider_gets_the_stores_key(gateways: dict[str, tuple[DeployedStack, Gateway]], fake: FakeProvider,
                                           mode: str):
    stack, gateway = gateways[mode]
    for provider in PROVIDERS:
        marker = f"{stack.mode}-{provider}"
        chat = gateway.chat(provider, marker, stream=provider == "kimi-code")
        assert chat.ok, chat
        [upstream] = [r for r in fake.chats() if marker in r.prompt]
        assert (upstream.provider, upstream.key, upstream.status) == (provider, stack.store_key(provider), 200)
        assert upstream.stream  # the gateway streams upstream
        if provider == "kimi-code":  # the catalog's header for Kimi Code reaches the provider
            assert upstream.user_agent == PROVIDERS["kimi-code"].models[0].definition.headers["User-Agent"]
