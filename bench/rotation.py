"""AWS calls and time per key rotation, against a real moto_server and the loopback fake provider.

Prints, for one `moonshot` rotation in a stack with both providers and keys in Secrets Manager:
- the API calls it makes (Secrets Manager by operation; target reads and writes), in inline mode
  with 1 and with 10 S3 targets and in reference mode (no target holds the key);
- the median time of a rotation with 1 and with 10 inline targets, and their ratio.

Goals (issue 7): at most 8 Secrets Manager calls per key plus 1 write per inline target; 10
targets at most 2x the time of 1. Run: `.venv/bin/python bench/rotation.py`.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from tests.support.aws_calls import install_call_counter  # noqa: E402
from tests.support.fake_provider import FakeProvider  # noqa: E402
from tests.support.moto import aws_test_env, create_bucket, start_moto, stop_moto  # noqa: E402
from tests.support.project import make_project  # noqa: E402

REGION = "us-east-1"
BUCKET = "kimi-infra-bench-config"
RUNS = 7


def stack_config(key_mode: str, targets: int) -> dict:
    return {
        "kimi-infra:region": "global",
        "kimi-infra:providers": ["moonshot", "kimi-code"],
        "kimi-infra:keyMode": key_mode,
        "kimi-infra:secretStore": {"kind": "aws-secrets-manager", "region": REGION},
        "kimi-infra:targets": [{"name": f"t{i}", "kind": "s3", "bucket": BUCKET, "key": f"gw{i}/openclaw.json5",
                                "region": REGION} for i in range(targets)],
    }


STACKS = {"inline-1": ("inline", 1), "inline-10": ("inline", 10), "reference": ("reference", 1)}
"""Stack name -> (key mode, number of S3 targets)."""


class Bench:
    """One scratch project with the STACKS, seeded as `pulumi up` leaves them."""

    def __init__(self, root: Path, fake: FakeProvider) -> None:
        from kimi_infra.deploy import deploy_all
        from kimi_infra.secret import Secret
        from kimi_infra.stackfile import load_stack
        from kimi_infra.stores import open_store

        self.project = make_project(root, {name: stack_config(*shape) for name, shape in STACKS.items()})
        self.fake = fake
        self.serial = 0
        create_bucket(BUCKET, REGION)
        self.specs = {name: load_stack(self.project, name).spec for name in STACKS}
        for spec in self.specs.values():
            for provider in spec.providers:
                open_store(spec, provider, self.project).ensure(Secret(self.new_key(provider)))
            deploy_all(spec, self.project)

    def new_key(self, provider: str) -> str:
        self.serial += 1
        key = f"sk-bench-{provider}-{self.serial:06d}-0123456789abcdef"
        self.fake.accept(provider, key)
        return key

    def rotate(self, stack: str) -> float:
        from kimi_infra.aws import reusing_clients
        from kimi_infra.ops.rotate import rotate
        from kimi_infra.secret import Secret

        key = Secret(self.new_key("moonshot"))
        start = time.perf_counter()
        with reusing_clients():  # as `python -m kimi_infra rotate` runs it
            rotate(self.specs[stack], self.project, "moonshot", key, verify_url=self.fake.base_url("moonshot"),
                   say=lambda _: None)
        return time.perf_counter() - start


def report_calls(label: str, calls: list[tuple[str, str, str]], targets: int) -> None:
    secrets = Counter(op for service, op, _ in calls if service == "secretsmanager")
    target_ops = Counter(op for service, op, _ in calls if service != "secretsmanager")
    writes = sum(n for op, n in target_ops.items() if op.startswith("Put"))
    print(f"{label:34s} Secrets Manager {sum(secrets.values()):2d} calls; targets: {writes} writes for {targets} "
          f"({sum(target_ops.values())} calls)")
    print(f"{'':34s}   {', '.join(f'{op} {n}' for op, n in sorted(secrets.items()))}")


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        server = start_moto(root / "moto_server.log")
        os.environ.update(aws_test_env(server.endpoint))
        os.environ.pop("AWS_PROFILE", None)
        try:
            with FakeProvider() as fake:
                run(Bench(root / "project", fake))
        finally:
            stop_moto(server)


def run(bench: Bench) -> None:
    counter, _ = install_call_counter()
    print("AWS calls for one moonshot rotation (stack with moonshot and kimi-code):")
    for stack, (mode, targets) in STACKS.items():
        bench.rotate(stack)  # the first after `pulumi up` also reads the seeded value once
        first = list(counter.calls)
        counter.clear()
        bench.rotate(stack)
        written = targets if mode == "inline" else 0
        report_calls(f"  {stack} (first after pulumi up)", first, written)
        report_calls(f"  {stack} (later rotations)", counter.calls, written)
        counter.clear()
    times = {"inline-1": [], "inline-10": []}
    for _ in range(RUNS):  # alternated, so drift hits both alike
        for stack in times:
            times[stack].append(bench.rotate(stack))
    one, ten = (statistics.median(times[stack]) for stack in times)
    print(f"time per rotation (median of {RUNS}): 1 inline target {one * 1000:.0f} ms, "
          f"10 inline targets {ten * 1000:.0f} ms, ratio {ten / one:.2f} (goal <= 2)")


if __name__ == "__main__":
    main()
