"""Cold start of the secretref resolver against the bare boto3 floor, for the same two ids.

Starts a moto_server on loopback, stores two keys, then times (median of 9, alternated):
- ours:  the resolver as OpenClaw runs it (`python -c "from kimi_infra.resolver import main; ..."`
         with the rendered args), answering a request for both ids;
- floor: `python -c "import boto3; c = boto3.client('secretsmanager'); c.get_secret_value(...)"`
         for the same two ids.
Prints both and the ratio. Goal (issue 13): at most 1.3. Run: `.venv/bin/python bench/resolver_cold_start.py`.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from tests.support.moto import start_moto, stop_moto  # noqa: E402  (the tests' real moto_server)

IDS = ["kimi-infra/staging/moonshot", "kimi-infra/staging/kimi-code"]
FLOOR = ("import boto3; c = boto3.client('secretsmanager', region_name='us-east-1'); "
         + "; ".join(f"c.get_secret_value(SecretId={i!r}, VersionStage='AWSCURRENT')" for i in IDS))
OURS = "import sys; from kimi_infra.resolver import main; sys.exit(main(sys.argv[1:]))"
REQUEST = json.dumps({"protocolVersion": 1, "provider": "kimi-infra", "ids": IDS})
RUNS = 9


def wall_time(command: list[str], env: dict[str, str], stdin: str | None = None) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, cwd=PROJECT_DIR, env=env, input=stdin, capture_output=True, text=True,
                            check=True)
    elapsed = time.perf_counter() - start
    if stdin is not None:
        assert set(json.loads(result.stdout)["values"]) == set(IDS), result.stdout
    return elapsed


def main() -> None:
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(PROJECT_DIR / "kimi_infra")], check=True)
    server = start_moto(Path("/tmp") / f"resolver-bench-moto-{os.getpid()}.log")
    try:
        env = {**os.environ, "AWS_ENDPOINT_URL": server.endpoint, "AWS_ACCESS_KEY_ID": "bench",
               "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": "/dev/null",
               "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "PYTHONPATH": str(PROJECT_DIR)}
        setup = "; ".join(f"c.create_secret(Name={i!r}, SecretString='sk-bench-{n}-0123456789abcdefghij')"
                          for n, i in enumerate(IDS))
        subprocess.run([sys.executable, "-c", f"import boto3; c = boto3.client('secretsmanager'); {setup}"],
                       env=env, check=True)
        ours = [sys.executable, "-c", OURS, "--aws-region", "us-east-1", "--stack", "staging"]
        floor = [sys.executable, "-c", FLOOR]
        wall_time(ours, env, REQUEST), wall_time(floor, env)  # warm the OS file cache for both
        ours_times, floor_times = [], []
        for _ in range(RUNS):  # alternated, so drift in machine load hits both alike
            ours_times.append(wall_time(ours, env, REQUEST))
            floor_times.append(wall_time(floor, env))
    finally:
        stop_moto(server)
    ours_median, floor_median = statistics.median(ours_times), statistics.median(floor_times)
    print(f"resolver, 2 ids:        {ours_median * 1000:.0f} ms (median of {RUNS})")
    print(f"boto3 floor, same 2 ids: {floor_median * 1000:.0f} ms (median of {RUNS})")
    print(f"ratio: {ours_median / floor_median:.2f} (goal <= 1.3)")


if __name__ == "__main__":
    main()
