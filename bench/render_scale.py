"""Render + validate speed at scale, and the cold start of `render` against a bare pydantic floor.

Prints:
- the time to validate, render, parse back and re-validate N synthetic stacks (N = 10, 100, 1,000,
  10,000): the median of RUNS runs per size (the sizes alternated, so drift in the machine's speed
  hits every size alike) with the fastest and slowest run beside it, wall time and the CPU time of
  this process (on a shared machine the wall time also counts the time other processes held the
  CPU; the load average is printed with the figures);
- the median wall time (7 runs, alternated) of `python -m kimi_infra render --stack dev` and of
  `python -c "import json5, pydantic; pydantic.create_model('M', x=(int, ...))"`, and their ratio;
  beside it the median CPU time of each (user + system of the child), which the load of a shared
  machine sways less than the wall time.

Goals (issue 23): 10,000 stacks under 1.5 s, growing linearly; cold-start ratio at most 1.3. Run: `make bench`,
or `.venv/bin/python bench/render_scale.py [RUNS]` (default 5).
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from kimi_infra.models import StackSpec  # noqa: E402
from kimi_infra.render import parse, render_stack  # noqa: E402

FLOOR = "import json5, pydantic; pydantic.create_model('M', x=(int, ...))"
SIZES = (10, 100, 1000, 10_000)
RUNS = 5


def synthetic_stack(index: int) -> dict:
    """A valid stack that differs from its neighbours (overrides, extra models, region)."""
    cn = index % 4 == 3
    return {
        "stack": f"synthetic-{index}",
        "region": "cn" if cn else "global",
        "providers": ["moonshot"] if cn else ["moonshot", "kimi-code"],
        "keyMode": "reference",
        "modelOverrides": {"moonshot/kimi-k2-thinking": {"contextWindow": 100_000 + index, "cost": {"input": 0.6}}},
        "extraModels": {"moonshot": [{"id": f"kimi-k2-extra-{index}", "name": f"Extra {index}",
                                      "contextWindow": 131072, "maxTokens": 8192}]},
        "targets": [{"kind": "file", "path": f"out/{index}.json5"}],
    }


def time_stacks(count: int) -> tuple[float, float]:
    """(wall, CPU) seconds to validate, render, parse back and re-validate `count` synthetic stacks."""
    raw = [synthetic_stack(i) for i in range(count)]
    start, cpu_start = time.perf_counter(), time.process_time()
    for values in raw:
        spec = StackSpec.model_validate(values)
        rendered = render_stack(spec)
        parse(rendered.text)
    return time.perf_counter() - start, time.process_time() - cpu_start


def timed_run(command: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one run of `command`; CPU is the child's user + system time."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, cwd=PROJECT_DIR, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)


def cold_start(runs: int = 7) -> tuple[tuple[float, float], tuple[float, float]]:
    """((wall, CPU) of ours, (wall, CPU) of the floor): medians of `runs` alternated runs."""
    # Installed packages (the floor's pydantic) come with bytecode; with PYTHONDONTWRITEBYTECODE=1
    # (set on our machines) our modules would be recompiled from source on every run. Compile
    # them once, as an install would, so both sides are measured as installed.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(PROJECT_DIR / "kimi_infra")], check=True)
    with tempfile.TemporaryDirectory() as scratch:
        ours = [sys.executable, "-m", "kimi_infra", "render", "--stack", "dev", "--out", f"{scratch}/dev.json5"]
        floor = [sys.executable, "-c", FLOOR]
        timed_run(ours), timed_run(floor)  # warm the OS file cache for both
        ours_times, floor_times = [], []
        for _ in range(runs):  # alternated, so drift in machine load hits both alike
            ours_times.append(timed_run(ours))
            floor_times.append(timed_run(floor))
    return _medians(ours_times), _medians(floor_times)


def _medians(times: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(wall for wall, _ in times), statistics.median(cpu for _, cpu in times)


def scale(runs: int) -> dict[int, list[tuple[float, float]]]:
    """(wall, CPU) of each of `runs` runs per size in SIZES, the sizes alternated run by run."""
    times: dict[int, list[tuple[float, float]]] = {count: [] for count in SIZES}
    for _ in range(runs):
        # Largest first: a small run right after the 10,000 would start on caches that run emptied.
        for count in reversed(SIZES):
            times[count].append(time_stacks(count))
    return times


def runs_from(args: list[str]) -> int:
    """RUNS from the command line (default 5); exits with a one-line error for anything but a whole number >= 1."""
    if not args:
        return RUNS
    if not args[0].isdigit() or int(args[0]) < 1:
        raise SystemExit(f"render_scale.py: RUNS must be a whole number of at least 1, not {args[0]!r}; "
                         "fix: e.g. `bench/render_scale.py 5`")
    return int(args[0])


def main() -> None:
    runs = runs_from(sys.argv[1:])
    time_stacks(10)  # warm-up: first-use costs (regex compiles, pydantic validators)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; median of {runs} runs per size")
    for count, times in scale(runs).items():
        wall, cpu = _medians(times)
        fastest, slowest = min(w for w, _ in times), max(w for w, _ in times)
        print(f"render+validate {count:>6,} stacks: {wall * 1000:8.1f} ms ({wall / count * 1e6:5.0f} us/stack; "
              f"runs {fastest * 1000:.1f}-{slowest * 1000:.1f} ms), CPU {cpu * 1000:8.1f} ms "
              f"({cpu / count * 1e6:5.0f} us/stack)")
    (ours, ours_cpu), (floor, floor_cpu) = cold_start()
    print(f"cold start `render --stack dev`: {ours * 1000:.0f} ms (median of 7), CPU {ours_cpu * 1000:.0f} ms")
    print(f"cold start pydantic floor:       {floor * 1000:.0f} ms (median of 7), CPU {floor_cpu * 1000:.0f} ms")
    print(f"ratio: {ours / floor:.2f} (goal <= 1.3), CPU ratio {ours_cpu / floor_cpu:.2f}; "
          f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
