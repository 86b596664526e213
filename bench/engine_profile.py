"""Where the time of a no-op `pulumi preview` and `pulumi up` goes: engine, program, provider plugin.

Sets up the same two projects as bench/engine_noop.py (the dev stack after its first `up`, and an empty
one-export program, same engine and virtualenv), runs each command RUNS times alternated with the
engine's own OpenTelemetry trace (`--otel-traces file://...`), and prints the median of each phase of
each pass (`up` runs two: its preview, then the update), ours next to the empty program's:

  engine before the program   from the command's start to the language host's Run (About, plugins...)
  program until provider      Run's start to the start of the dynamic-provider plugin (python start,
                              imports, stack config, preflight, resource registration)
  provider start              the plugin's start: wrapper, launcher, python, the SDK's server
  provider calls <Method>     the engine's calls into the plugin (Check, Diff, ...: our provider code,
                              the imports it makes on first use, its reads of the store and targets)
  program after last call     from the last provider call to the end of Run (outputs, python exit)
  after the program           from the end of the last Run to the command's end (provider close, state
                              write); between passes, that time is in the next pass's first phase

Run: `.venv/bin/python bench/engine_profile.py [RUNS]` (default 5). Prints numbers only; the machine is
shared, so read them with the load average it prints.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine_noop import empty_project, ready

from tests.support.pulumi_engine import PulumiCli, build_engine, copy_project

Span = tuple[float, float, str]  # start ms, end ms, name
COMMANDS = {"preview": ("preview",), "up": ("up", "--yes")}


def read_spans(trace: Path) -> list[Span]:
    """The trace's spans (one JSON document a line), in ms from the first, sorted by start."""
    raw = []
    for line in trace.read_text().splitlines():
        for resource in json.loads(line).get("resourceSpans", []) if line.strip() else []:
            for scope in resource["scopeSpans"]:
                raw += [(int(s["startTimeUnixNano"]), int(s["endTimeUnixNano"]), s["name"]) for s in scope["spans"]]
    origin = min(start for start, _, _ in raw)
    return sorted(((start - origin) / 1e6, (end - origin) / 1e6, name) for start, end, name in raw)


def phases(spans: list[Span]) -> dict[str, float]:
    """Per pass (one language host Run each), the time of each phase (see the module's docstring)."""
    runs = [s for s in spans if s[2] == "pulumirpc.LanguageRuntime/Run"]
    result: dict[str, float] = defaultdict(float)
    previous_end = 0.0
    for number, (start, end, _) in enumerate(runs, 1):
        label = f"pass {number}: "
        inside = [s for s in spans if start <= s[0] <= end]
        plugins = [s for s in inside if s[2] == "newPlugin"]
        calls = [s for s in inside if s[2].startswith("pulumirpc.ResourceProvider/")]
        monitor = [s for s in inside if s[2].startswith("pulumirpc.ResourceMonitor/")]
        result[label + "engine before the program"] = start - previous_end
        if plugins:
            result[label + "program until provider"] = plugins[0][0] - start
            result[label + "provider start"] = plugins[0][1] - plugins[0][0]
        else:
            result[label + "program until provider"] = (monitor[0][0] if monitor else end) - start
        for call_start, call_end, name in calls:
            result[label + "provider calls " + name.rsplit("/", 1)[1]] += call_end - call_start
        last = max((s[1] for s in calls + monitor), default=end)
        result[label + "program after last call"] = end - last
        previous_end = end
    result["total"] = max(s[1] for s in spans if s[2] == "pulumi")
    result["after the program (last pass)"] = result["total"] - previous_end
    return result


def traced(cli: PulumiCli, scratch: Path, args: tuple[str, ...]) -> dict[str, float]:
    trace = scratch / "trace.json"
    trace.unlink(missing_ok=True)
    cli.run(*args, f"--otel-traces=file://{trace}")
    return phases(read_spans(trace))


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 5
    engine = build_engine()
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        projects = {"ours": ready(engine, copy_project(scratch / "ours"), scratch, "ours", keys=True),
                    "empty": ready(engine, empty_project(scratch / "empty"), scratch, "empty", keys=False)}
        samples: dict[tuple[str, str], list[dict[str, float]]] = defaultdict(list)
        for _ in range(runs):  # alternated, as bench/engine_noop.py
            for command, args in COMMANDS.items():
                for name, cli in projects.items():
                    samples[(command, name)].append(traced(cli, scratch, args))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; median of {runs} traced runs, alternated")
    for command in COMMANDS:
        ours, empty = samples[(command, "ours")], samples[(command, "empty")]
        names = list(dict.fromkeys(name for sample in ours + empty for name in sample))
        print(f"\nno-op {command}{'':32s}   ours   empty    ours-empty (ms)")
        for name in names:
            mine, floor = (statistics.median(s.get(name, 0.0) for s in group) for group in (ours, empty))
            print(f"  {name:42s} {mine:7.0f} {floor:7.0f} {mine - floor:+8.0f}")


if __name__ == "__main__":
    main()
