"""The dynamic-provider plugin's python as the language host starts it warm: the SDK's server, with our
providers made ready while it waits for the engine's first call.

With `warmDynamicProvider: components.warm_provider` in Pulumi.yaml, our language host starts this
(`python -u -m components.warm_provider`) when Run starts, and our plugin wrapper hands it to the engine
when the program registers its first dynamic resource (engine/internal/warm). `python -m pulumi.dynamic`
would import our providers only then, when the engine's first call unpickles one: ~100 ms of imports
and adapter builds on the critical path of every pass. Here a thread does it while the program starts.

The SDK's server runs as `__main__`, as under `python -m pulumi.dynamic` (runpy, alter_sys), and the
thread waits for it before it imports components.providers: that package installs our one-line errors
and prompt exit only in the server's process, which it recognises by `__main__` (one_line.py).
"""

from __future__ import annotations

import gc
import os
import runpy
import socket
import sys
import threading
import time

SERVER = "pulumi.dynamic"
"""The SDK's dynamic-provider server, run as `__main__` (its module's spec: `pulumi.dynamic.__main__`)."""


def server_running() -> bool:
    """Whether the SDK's server module is `__main__` now, its imports done (it has defined `main`, which it
    calls last): one_line.py looks for those imports."""
    main_module = sys.modules.get("__main__")
    spec = getattr(main_module, "__spec__", None)
    return getattr(spec, "name", None) == SERVER + ".__main__" and callable(getattr(main_module, "main", None))


def prepare_when_serving() -> None:
    """Once the server module runs, get our providers ready (components.providers.prepare), then hand
    what the imports made to the collector's permanent generation (see `main`)."""
    try:
        while not server_running():
            time.sleep(0.005)
        from components.providers import prepare

        prepare()
    finally:
        gc.freeze()
        gc.enable()


ENGINE_CHECK_S = 1.0
"""How often the warm python asks whether its engine is still there (enginewatch.Interval on the Go side)."""


def exit_when_engine_gone(address: str) -> None:
    """End this process once the engine at `address` (host:port) refuses connections.

    Until a wrapper claims it, the warm python is in a process group of its own that only the language host
    stops, and the host can die without doing so (the engine kills a host that outlives its cancel grace;
    `kill -9`); a claimed one whose wrapper died before it took over has nobody at all. The gRPC server
    would then wait for ever. As the Go plugins do (enginewatch), it watches the engine itself: a refused
    connection means the engine is gone; a timeout (a busy machine) is no verdict.
    """
    host, _, port = address.rpartition(":")
    if not port.isdigit():  # started by hand, with no engine to watch
        return
    while True:
        time.sleep(ENGINE_CHECK_S)
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=ENGINE_CHECK_S).close()
        except ConnectionRefusedError:
            os._exit(1)
        except OSError:
            continue


def main() -> None:
    """Serve as `python -m pulumi.dynamic` does, our providers getting ready alongside, for as long as the
    engine named by the last argument is there.

    The collector is off until our providers are ready: the SDK's and our imports make objects that live
    as long as the process, and the collections they would trigger (each a walk over all of them) cost
    this python CPU that the program, starting on the same cores meanwhile, is waiting for."""
    gc.disable()
    threading.Thread(target=exit_when_engine_gone, args=(sys.argv[-1],), name="engine-watch", daemon=True).start()
    threading.Thread(target=prepare_when_serving, name="prepare-providers", daemon=True).start()
    runpy.run_module(SERVER, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
