"""The dynamic-provider plugin leaves as soon as the engine closes it and no provider call is running.

At the end of every pass (each `preview`, and both passes of `up`) the engine interrupts the plugin's
process group and waits for it to exit. The SDK's server (`python -m pulumi.dynamic`) stops its gRPC
server on the KeyboardInterrupt, and then the interpreter finalizes: it joins gRPC's and the
executor's threads and tears down every module, 100-400 ms on this machine (bench/engine_profile.py,
"provider close"), all of it on the engine's critical path, for a process that has nothing left to do.

What it may still have to do is finish a provider call that is running (the engine was killed with
-9 mid-write and our wrapper interrupts the group: the write must complete, as it did before). So the
exit waits for the calls of our providers to end (`TrackedProvider`), then leaves with `os._exit(0)`,
the status the server's own clean stop gives. It hooks in before the threads are joined, through
`threading._register_atexit` (what `concurrent.futures` uses for the same moment; CPython calls these
in reverse order, so ours runs before the executor's join). Without that hook nothing changes.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from typing import Any

from pulumi.dynamic import ResourceProvider

OPERATIONS = ("check", "create", "read", "diff", "update", "delete")
"""The provider methods the SDK's server calls from its worker threads."""

_calls = threading.Condition()
_running = 0


def tracked(method: Callable[..., Any]) -> Callable[..., Any]:
    """`method`, counted as running while it runs (see `exit_when_idle`)."""

    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        global _running
        with _calls:
            _running += 1
        try:
            return method(*args, **kwargs)
        finally:
            with _calls:
                _running -= 1
                _calls.notify_all()

    return call


class TrackedProvider(ResourceProvider):
    """A provider whose operations (`OPERATIONS` a subclass defines) are counted while they run."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in OPERATIONS:
            if name in vars(cls):
                setattr(cls, name, tracked(vars(cls)[name]))


def running_calls() -> int:
    """How many provider operations are running now."""
    with _calls:
        return _running


def wait_until_idle(timeout: float | None = None) -> bool:
    """Wait for every running provider operation to end; False if `timeout` passed first."""
    with _calls:
        return _calls.wait_for(lambda: _running == 0, timeout)


def exit_when_idle() -> None:
    """The interpreter is shutting down (the server stopped): leave once no provider call runs.
    The wrapper's grace period (then SIGKILL) bounds the wait, as it bounded the thread join."""
    wait_until_idle()
    os._exit(0)


def install(register: Callable[[Callable[[], None]], None] | None = None) -> bool:
    """Make this process (the provider plugin: the caller checks) exit as soon as it is idle once it
    shuts down. True when installed; False where this CPython has no such hook."""
    register = register or getattr(threading, "_register_atexit", None)
    if register is None:
        return False
    register(exit_when_idle)
    return True
