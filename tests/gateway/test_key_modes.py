"""Reference and inline key modes on the real gateway: a chat request through it reaches the
provider with the key our store holds, for both providers (secretref: test_rotation.py, which
shares its gateway with the rotation tests)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kimi_infra.catalog import PROVIDERS
from tests.gateway.conftest import DeployedStack, deploy_stack, start_gateway, warm_up
from tests.support.fake_provider import FakeProvider
from tests.support.gateway import Gateway

pytestmark = pytest.mark.gateway


@pytest.fixture(scope="module", params=["reference", "inline"])
def mode_gateway(request, tmp_path_factory, openclaw_launcher, resolver, moto, fake,
                 ) -> Iterator[tuple[DeployedStack, Gateway]]:
    mode = request.param
    root = tmp_path_factory.mktemp(f"gw-{mode}")
    stack = deploy_stack(root, mode, moto, fake, resolver)
    with start_gateway(openclaw_launcher, stack, root / "home") as gateway:
        yield stack, gateway


def test_each_provider_gets_the_stores_key(mode_gateway: tuple[DeployedStack, Gateway], fake: FakeProvider):
    stack, gateway = mode_gateway
    for chat in warm_up(gateway):
        assert chat.ok, (chat, gateway.log_text()[-3000:])
    for provider in PROVIDERS:
        marker = f"{stack.mode}-{provider}"
        chat = gateway.chat(provider, marker, stream=provider == "kimi-code")
        assert chat.ok, chat
        [upstream] = [r for r in fake.chats() if marker in r.prompt]
        assert (upstream.provider, upstream.key, upstream.status) == (provider, stack.store_key(provider), 200)
        assert upstream.stream  # the gateway streams upstream
        if provider == "kimi-code":  # the catalog's header for Kimi Code reaches the provider
            assert upstream.user_agent == PROVIDERS["kimi-code"].models[0].definition.headers["User-Agent"]
