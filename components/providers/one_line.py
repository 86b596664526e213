"""Our one line, not a Python traceback, for a provider operation that fails the user's way.

The SDK's dynamic-provider server (`python -m pulumi.dynamic`, the plugin process the engine starts)
answers every exception a provider method raises with `context.abort(UNKNOWN, traceback.format_exc())`,
and the engine prints that text: a throttled or unreachable store during `up` showed the user a
traceback per resource with our message at its foot. A KimiInfraError is a failure the user can act
on, already one line naming where, the problem and the fix: that line is what the engine gets.
Every other exception is a bug and keeps its traceback.

The server looks `traceback` up in its module's globals when it formats the error, so giving that
module a `traceback` whose `format_exc` knows our errors is enough; the SDK's code is not touched.
The server gRPC-registers its methods before any provider exists, so this happens when the engine
first sends a resource of ours: unpickling the provider imports this package (`install`, below),
before the provider's first method runs.
"""

from __future__ import annotations

import sys
import traceback
from types import ModuleType, SimpleNamespace

from kimi_infra.errors import KimiInfraError

SERVER_MODULE = "pulumi.dynamic.__main__"
"""The module the plugin runs as `__main__` (`python -m pulumi.dynamic`)."""


def format_exc(limit: int | None = None, chain: bool = True) -> str:
    """`traceback.format_exc`, except that the error the user can act on is its one line."""
    error = sys.exc_info()[1]
    if isinstance(error, KimiInfraError):
        return str(error)
    return traceback.format_exc(limit, chain)


def _is_dynamic_provider_server(module: ModuleType | None) -> bool:
    spec = getattr(module, "__spec__", None)
    return getattr(spec, "name", None) == SERVER_MODULE and getattr(module, "traceback", None) is traceback


def install(module: ModuleType | None = None) -> bool:
    """In the SDK's dynamic-provider server (`module`, by default the running `__main__`), report
    KimiInfraError as its one line. Does nothing in any other process (the program, tests) or when
    the SDK no longer formats errors this way; True when installed."""
    module = module if module is not None else sys.modules.get("__main__")
    if not _is_dynamic_provider_server(module):
        return False
    shim = SimpleNamespace(**{name: getattr(traceback, name) for name in dir(traceback) if not name.startswith("__")})
    shim.format_exc = format_exc
    module.traceback = shim  # type: ignore[union-attr]
    return True
