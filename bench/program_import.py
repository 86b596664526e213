"""Import time of the Pulumi program and of the pure core, and which heavy modules each loads.

Prints the median of 7 fresh interpreters for each. Run: `.venv/bin/python bench/program_import.py`.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
PROBE = "import sys, {module}; print(','.join(m for m in ('pulumi', 'boto3') if m in sys.modules))"
MODULES = {
    "pure core (render path)": "kimi_infra.render",
    "Pulumi program (components.program)": "components.program",
}


def measure(module: str, runs: int = 7) -> tuple[float, str]:
    times, loaded = [], ""
    for _ in range(runs):
        start = time.perf_counter()
        result = subprocess.run([sys.executable, "-c", PROBE.format(module=module)], cwd=PROJECT_DIR,
                                capture_output=True, text=True, check=True)
        times.append(time.perf_counter() - start)
        loaded = result.stdout.strip()
    return statistics.median(times), loaded


def main() -> None:
    baseline, _ = measure("sys")
    print(f"{'bare interpreter':40s} {baseline * 1000:6.0f} ms")
    for label, module in MODULES.items():
        seconds, loaded = measure(module)
        print(f"{label:40s} {seconds * 1000:6.0f} ms  heavy modules loaded: {loaded or 'none'}")


if __name__ == "__main__":
    main()
