"""What an agent's poll costs, and how fast a change reaches a fleet, against a real moto_server.

Prints:
- per unchanged poll, for an S3 and an SSM target: the AWS requests (operation, HTTP status),
  whether a config body or a key was read, and the bytes of the answer;
- the time from a `deploy` finishing to each of N agents (threads, no gateway, 1 s interval)
  having written the new config: p50 and max;
- what one `fleet` scan of those N agents' reports costs (requests per operation), and how often
  `rotate --wait-fleet` scans a fleet that size;
- the request rate of 1,000 gateways polling every 30 s against the AWS quotas that apply.

Run: `.venv/bin/python bench/fleet.py [N]` (N agents, default 50).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from tests.support.aws_calls import install_call_counter  # noqa: E402
from tests.support.fleet import BUCKET, TARGETS, deploy, first_deploy, fleet_project, make_agent  # noqa: E402
from tests.support.moto import aws_test_env, start_moto, stop_moto  # noqa: E402

GATEWAYS, INTERVAL_S, HEARTBEAT_S = 1000, 30, 60
QUOTAS = {  # per account and region (S3: per partitioned prefix); see the README's Fleet section
    "S3 GET": 5500, "S3 PUT": 3500, "SSM GetParameter+PutParameter (default throughput)": 40,
}


def poll_cost(project: Path, root: Path) -> None:
    for target in ("bucket", "param"):
        agent = make_agent(project, root, f"cost-{target}", target)
        assert agent.poll(), agent.lines
        counter, uninstall = install_call_counter()
        try:
            agent.poll()
        finally:
            uninstall()
        for call in counter.answered:
            size = len(json.dumps(call.answer, default=str).encode()) if call.status != 304 else 0
            name = call.params.get("Key") or call.params.get("Name")
            print(f"unchanged poll, {target}: {call.service} {call.operation} {name} -> HTTP {call.status}, "
                  f"~{size} bytes of answer")
        secrets = [op for service, op, _ in counter.calls if service == "secretsmanager"]
        config_read = any(call.status == 200 and not str(call.params.get("Key", "")).endswith(".fleet.json")
                          and call.operation == "GetObject" for call in counter.answered)
        print(f"unchanged poll, {target}: {len(counter.calls)} request(s), Secrets Manager calls: {len(secrets)}, "
              f"config body read: {config_read}")


def propagation(project: Path, root: Path, agents_n: int) -> None:
    agents = [make_agent(project, root, f"gw-{i:03d}", "bucket" if i % 5 else "param") for i in range(agents_n)]
    for agent in agents:
        agent.once()
    stop = threading.Event()
    threads = [agent.run_in_thread(stop, interval=1.0) for agent in agents]
    time.sleep(1.5)
    deploy(fleet_project(project, key_mode="inline", context_window=222_222))
    done_at = time.monotonic()
    target = fleet_config_bytes()
    reached: dict[str, float] = {}
    deadline = done_at + 120
    while len(reached) < len(agents) and time.monotonic() < deadline:
        for agent in agents:
            name = agent.settings.gateway_id
            if name not in reached and agent.include.exists() and agent.include.read_bytes() == target:
                reached[name] = time.monotonic() - done_at
        time.sleep(0.05)
    stop.set()
    for thread in threads:
        thread.join(timeout=10)
    times = sorted(reached.values())
    if not times:
        print("no agent got the change; their last lines:", *[a.lines[-3:] for a in agents[:3]], sep="\n")
        return
    print(f"propagation to {len(reached)}/{agents_n} agents (1 s interval): p50 {statistics.median(times):.2f} s, "
          f"max {times[-1]:.2f} s")


def scan_cost(project: Path) -> None:
    """One `fleet` scan of every report, as `rotate --wait-fleet` repeats it."""
    from kimi_infra.fleet import WAIT_POLL_S, fleet_state, scan_pause
    from kimi_infra.stackfile import load_stack

    spec = load_stack(project, "fl").spec
    counter, uninstall = install_call_counter()
    try:
        state = fleet_state(spec)
    finally:
        uninstall()
    by_target: dict[str, int] = {}
    for gateway in state.gateways:
        by_target[str(gateway["target"])] = by_target.get(str(gateway["target"]), 0) + 1
    calls = ", ".join(f"{count} {operation}" for operation, count in sorted(counter.by_operation().items()))
    print(f"fleet scan of {len(state.gateways)} reports {by_target}: {len(counter.calls)} requests ({calls}); "
          f"--wait-fleet scans every {scan_pause(spec, state, WAIT_POLL_S):.1f} s")


def fleet_config_bytes() -> bytes:
    """The config as deployed (inline: its hash is keyed, so compare the bytes)."""
    import boto3

    return boto3.client("s3", region_name="us-east-1").get_object(Bucket=BUCKET, Key=TARGETS[0]["key"])["Body"].read()


def quotas() -> None:
    polls = GATEWAYS / INTERVAL_S
    reports = GATEWAYS / HEARTBEAT_S
    print(f"{GATEWAYS} gateways, {INTERVAL_S} s interval: {polls:.1f} polls/s, {reports:.1f} heartbeat reports/s")
    print(f"  S3 target: {polls:.1f} GET/s of {QUOTAS['S3 GET']} ({100 * polls / QUOTAS['S3 GET']:.1f}%), "
          f"{reports:.1f} PUT/s of {QUOTAS['S3 PUT']} ({100 * reports / QUOTAS['S3 PUT']:.1f}%)")
    ssm = polls + reports
    print(f"  SSM target: {ssm:.1f} TPS of the default {QUOTAS['SSM GetParameter+PutParameter (default throughput)']} "
          "(over it: enable higher throughput, or use an S3 target for a fleet this size)")
    from kimi_infra.fleet import S3Place, SsmPlace

    s3_every, ssm_every = GATEWAYS * S3Place.scan_seconds_per_report, GATEWAYS * SsmPlace.scan_seconds_per_report
    ssm_calls = GATEWAYS // 10 + GATEWAYS // 50  # GetParameters of 10, DescribeParameters pages of 50
    print(f"  rotate --wait-fleet at {GATEWAYS}: S3, {GATEWAYS} GetObject per scan, a scan every {s3_every:.0f} s "
          f"({GATEWAYS / s3_every:.0f} GET/s); SSM, {ssm_calls} calls per scan, a scan every {ssm_every:.0f} s "
          f"({ssm_calls / ssm_every:.0f} TPS)")
    print("  Secrets Manager: 0 calls per poll; in secretref mode one GetSecretValue per gateway per rotation "
          "(the resolver, on reload)")


def warm_up() -> None:
    """moto loads each service on its first call, which on a busy machine can outlast our 4 s read
    timeout: load them with boto3's patient defaults first."""
    import boto3

    ssm = boto3.client("ssm", region_name="us-east-1")
    ssm.put_parameter(Name="/warm-up", Value="x", Type="SecureString")
    ssm.delete_parameter(Name="/warm-up")
    boto3.client("secretsmanager", region_name="us-east-1").list_secrets()
    boto3.client("s3", region_name="us-east-1").list_buckets()


def main() -> None:
    agents_n = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        server = start_moto(root / "moto.log")
        try:
            os.environ.update(aws_test_env(server.endpoint))
            gateways = root / "gateways"
            gateways.mkdir()
            os.environ["OPENCLAW_INCLUDE_ROOTS"] = str(gateways)
            os.environ["OPENCLAW_CONFIG_PATH"] = str(root / "none" / "openclaw.json")
            warm_up()
            project = fleet_project(root / "project", key_mode="inline")
            first_deploy(project)
            poll_cost(project, gateways)
            propagation(project, gateways, agents_n)
            scan_cost(project)
            quotas()
        finally:
            stop_moto(server)


if __name__ == "__main__":
    main()
