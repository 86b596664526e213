"""Process-wide settings of kimi-infra's short-lived processes: the CLI, the Pulumi program and its
dynamic-provider plugin (one place, so the doors stay alike; issue 23).

Neither changes what a process does, only what it spends: both are measured by `make bench` and
bench/engine_noop.py.
"""

from __future__ import annotations

import atexit
import gc
import os


def settle_process() -> None:
    """Call first thing in the process, before pydantic builds a validator.

    - No pydantic plugins: pydantic looks for them in every installed distribution's entry points before
      its first validator (~6 ms of a ~140 ms `render`); kimi-infra uses none. A PYDANTIC_DISABLE_PLUGINS
      the user set (even empty, which loads them all) wins.
    - No collection at exit: the interpreter's teardown collects every object still tracked (~50 ms of a
      `render`, ~100 ms of each pass of the Pulumi program); frozen first, it collects none. Files are
      closed where they are written; nothing waits on a finaliser.
    """
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    atexit.register(gc.freeze)
