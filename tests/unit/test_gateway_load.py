"""The gateway tests revoke an old key only once no request sent before the reload is still in flight
(tests/gateway/test_rotation.py, revoke_after_grace): the Load's clients say which requests are in flight."""

from __future__ import annotations

import threading
import time

from tests.support.gateway import Chat, Load


class HeldGateway:
    """Answers each chat only when the test lets it (what a slow gateway on a loaded machine does)."""

    def __init__(self) -> None:
        self.answer = threading.Event()
        self.asked = threading.Semaphore(0)

    def chat(self, provider: str, marker: str) -> Chat:
        sent = time.monotonic()
        self.asked.release()
        self.answer.wait(timeout=30)
        return Chat(provider, marker, 200, f"pong from {provider}", time.monotonic() - sent, sent, time.monotonic())


def test_a_request_sent_before_a_moment_holds_the_load_until_it_is_answered():
    gateway = HeldGateway()
    with Load(gateway, "moonshot", clients=1) as load:  # type: ignore[arg-type]
        assert gateway.asked.acquire(timeout=30)
        reloaded = time.monotonic()
        assert not load.done_with_requests_before(reloaded)  # the request in flight was sent before
        gateway.answer.set()
        deadline = time.monotonic() + 30
        while not load.done_with_requests_before(reloaded):  # later requests were sent after `reloaded`
            assert time.monotonic() < deadline, "the answered request stayed in flight"
            time.sleep(0.01)
    assert load.results and all(chat.ok for chat in load.results)
