"""Loopback ports for the tests' servers, picked where no other process is handed one.

A port the kernel picks (bind to port 0) is free only until the probe closes it: the kernel then hands
it to the next bind(0) or outgoing connection anywhere on the machine, and `make test` makes many (every
Pulumi command's gRPC servers, every client). moto_server needs ~0.3 s and a gateway ~10 s to bind theirs,
and one lost race cost a whole CI run (the session's moto_server of one xdist worker exited with "Address
already in use": 229 errors). So we pick at random among the ports the kernel never picks by itself,
outside `ip_local_port_range`, where only our own picks can meet; should they meet anyway (or a machine's
range leave no room outside it), `on_a_free_port` starts the server again on another port.
"""

from __future__ import annotations

import contextlib
import random
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

PORT_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST = 10000  # below are well-known services (and 1024 needs root)
ENOUGH = 4096  # fewer outside the kernel's range than this: our picks would meet each other; use the kernel's
ATTEMPTS = 50
STARTS = 3
PICKER = random.SystemRandom()
"""From os.urandom: a test that seeds `random` cannot make two workers pick alike."""


def free_port() -> int:
    """A loopback port nothing listens on now, and that the kernel will not give to anyone else."""
    candidates = ports_the_kernel_never_picks()
    for _ in range(ATTEMPTS if candidates else 0):
        port = PICKER.choice(candidates)
        if _bindable(port):
            return port
    return _kernel_pick()


class PortTaken(RuntimeError):
    """A server could not bind its port: another process had bound it first."""


Server = TypeVar("Server")


def on_a_free_port(start: Callable[[int], Server]) -> Server:
    """`start(port)` on a free port; should it raise PortTaken, again on another, up to STARTS times."""
    for _ in range(STARTS - 1):
        with contextlib.suppress(PortTaken):
            return start(free_port())
    return start(free_port())


def ports_the_kernel_never_picks() -> range:
    """The larger stretch outside the kernel's ephemeral range, or an empty range when both are small."""
    try:
        low, high = (int(field) for field in PORT_RANGE_FILE.read_text().split())
    except (OSError, ValueError):
        return range(0)
    stretch = max(range(LOWEST, low), range(high + 1, 65536), key=len)
    return stretch if len(stretch) >= ENOUGH else range(0)


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _kernel_pick() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
