"""Wall time and CPU of one chat request through a real OpenClaw gateway, as the gateway tests run it.

Starts ONE gateway on a `reference` stack deployed on a real moto_server, answered by the loopback
fake provider (tests/support), warms it up, then sends SEQUENTIAL requests one after another and
the same number from CLIENTS clients at once. For each phase it prints the p50/p90 wall time of a
request and the gateway's CPU per request: utime+stime (with reaped children's) of every process
started for that gateway, read from /proc before and after the phase.

The machine is shared: run it alone, compare medians, and read the load average it prints.

A cheaper request does not make the gateway suites cheaper by itself: their clients send without pause
(closed loop), so a gateway under load takes about one core for as long as the scenario runs (20 rotations,
a grace period), and a cheaper request only raises the request rate. Tried 2026-12-03: OPENCLAW_TRAJECTORY=0
(no trace of each agent run) cut the concurrent phase here from 0.20-0.22 to 0.14-0.19 s of CPU a request,
yet tests/gateway/test_rotation.py, recorded with process accounting (bench/process_cpu.py), used 178.6
CPU-s with it and 168.7 without, and took no less time (four runs each, alternated: 114-132 s with it,
100-117 s without). What shortens those suites is a shorter scenario.

`--set '{"agents": {...}}'` merges JSON into the gateway's own config section and `--env NAME=VALUE`
adds to its environment, to try a setting before putting it in tests/support/gateway.py.
Run: `.venv/bin/python bench/gateway_request.py [--requests N] [--clients N] [--set JSON] [--env N=V]`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from tests.support.fake_provider import FakeProvider  # noqa: E402
from tests.support.gateway import Chat, Gateway  # noqa: E402
from tests.support.gateway_stack import deploy_stack, warm_up  # noqa: E402
from tests.support.moto import start_moto, stop_moto  # noqa: E402
from tests.support.openclaw import install_openclaw  # noqa: E402
from tests.support.resolver import install_launcher  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
PROVIDER = "moonshot"


def gateway_cpu_seconds(gateway: Gateway) -> float:
    """utime+stime+cutime+cstime of every live process started for `gateway` (children it reaped count
    in their parent's cutime/cstime)."""
    total = 0
    for pid in gateway.processes():
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(value) for value in fields[11:15])  # fields 14-17 of proc(5)
    return total / TICKS


def settle(gateway: Gateway, quiet_s: float = 2.0, limit_s: float = 60.0) -> float:
    """Wait until the gateway uses under 5% of a core for `quiet_s` (it finishes start-up work in the
    background after it answers), at most `limit_s`; returns the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        before = gateway_cpu_seconds(gateway)
        time.sleep(quiet_s)
        if gateway_cpu_seconds(gateway) - before < 0.05 * quiet_s:
            break
    return time.monotonic() - started


def phase(gateway: Gateway, label: str, requests: int, clients: int) -> None:
    """Send `requests` chats from `clients` clients; print wall and CPU per request."""
    cpu_before, started = gateway_cpu_seconds(gateway), time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        chats: list[Chat] = list(pool.map(lambda n: gateway.chat(PROVIDER, f"{label}-{n:04d}"), range(requests)))
    wall, cpu = time.monotonic() - started, gateway_cpu_seconds(gateway) - cpu_before
    seconds = sorted(chat.seconds for chat in chats)
    failed = [chat for chat in chats if not chat.ok]
    print(f"{label}: {requests} requests, {clients} client(s): request p50 {statistics.median(seconds):.2f} s, "
          f"p90 {seconds[int(0.9 * len(seconds))]:.2f} s; phase {wall:.1f} s = {requests / wall:.2f} req/s; "
          f"gateway CPU {cpu / requests:.2f} s/request; failed {len(failed)}; load {os.getloadavg()[0]:.2f}",
          flush=True)
    if failed:
        print(f"  first failure: {failed[0]}", flush=True)


def merged(base: dict, extra: dict) -> dict:
    """`base` with `extra` merged in, nested objects key by key."""
    out = dict(base)
    for key, value in extra.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--set", type=json.loads, default={}, help="JSON merged into the gateway's own section")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the gateway's environment")
    args = parser.parse_args()
    print(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-gw-") as scratch, FakeProvider() as fake:
        root = Path(scratch)
        launcher = install_openclaw(root / "openclaw-scratch").launcher
        moto = start_moto(root / "moto_server.log")
        try:
            stack = deploy_stack(root / "stack", "reference", moto, fake, install_launcher(root / "bin" / "resolve"))
            env = {**stack.gateway_env(), **dict(item.split("=", 1) for item in args.env)}
            gateway = Gateway(launcher, root / "home", stack.deployed, env)
            gateway.config.write_text(json.dumps(merged(json.loads(gateway.config.read_text()), args.set)))
            with gateway:
                print(f"gateway ready in {gateway.start_seconds:.1f} s, CPU {gateway_cpu_seconds(gateway):.1f} s",
                      flush=True)
                warm = warm_up(gateway)
                assert all(chat.ok for chat in warm), (warm, gateway.log_text()[-3000:])
                print(f"warmed up; idle after {settle(gateway):.0f} s", flush=True)
                phase(gateway, "sequential", args.requests, 1)
                settle(gateway)
                phase(gateway, "concurrent", args.requests, args.clients)
        finally:
            stop_moto(moto)


if __name__ == "__main__":
    main()
