"""A no-op `pulumi preview` and `pulumi up` of the dev stack against an empty Pulumi program.

Both run on the same built engine (`make engine`) and the same virtualenv, each in a scratch copy
with its own local state backend: our project after its first `up` (so nothing changes), and a
Python program of one export. Each copy's packages get their bytecode first, as `make dev` gives a
checkout's (where PYTHONDONTWRITEBYTECODE is set, as on this machine, nothing else writes it; the
virtualenv's packages have theirs from pip), so that no run compiles our sources anew. Prints the
median of RUNS for each command, alternated so drift in the machine's load hits both alike, the
ratios, and the load average.

Goal (issue 23): both ratios at most 1.3. Run: `.venv/bin/python bench/engine_noop.py [RUNS]`.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from tests.support.project import CANARY_KEY  # noqa: E402
from tests.support.pulumi_engine import KIMICODE_CANARY, PulumiCli, build_engine, copy_project  # noqa: E402

STACK = "dev"
EMPTY_PROGRAM = 'import pulumi\n\npulumi.export("x", 1)\n'


def empty_project(root: Path) -> Path:
    """A Python program of one export, on the checkout's virtualenv (as the project's Pulumi.yaml names it)."""
    root.mkdir(parents=True)
    (root / "Pulumi.yaml").write_text("name: empty\nruntime:\n  name: python\n  options:\n    virtualenv: .venv\n")
    (root / "__main__.py").write_text(EMPTY_PROGRAM)
    (root / ".venv").symlink_to(PROJECT_DIR / ".venv")
    return root


def compile_bytecode(project: Path) -> None:
    """Bytecode for the project's packages, as `make dev` compiles a checkout's (module docstring)."""
    packages = [str(path) for path in project.iterdir() if (path / "__init__.py").is_file()]
    if packages:
        subprocess.run([sys.executable, "-m", "compileall", "-q", *packages], check=True)


def ready(engine: Path, project: Path, scratch: Path, name: str, keys: bool) -> PulumiCli:
    """The CLI logged in to a fresh local backend with the stack selected (fake keys set: the dev
    store is a local file) and deployed once."""
    compile_bytecode(project)
    cli = PulumiCli(engine, project, scratch / f"{name}-home", aws_endpoint="http://127.0.0.1:9")  # no AWS used
    state = scratch / f"{name}-state"
    state.mkdir()
    cli.login(f"file://{state}")
    cli.select_stack(STACK)
    if keys:
        cli.set_keys(CANARY_KEY, KIMICODE_CANARY)
    else:  # one setting: this engine's language host hands a program without config `null`, which the SDK refuses
        cli.run("config", "set", "empty:unused", "1")
    cli.up()
    return cli


def timed(cli: PulumiCli, *args: str) -> float:
    start = time.perf_counter()
    cli.run(*args)
    return time.perf_counter() - start


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 7
    engine = build_engine()
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        ours = ready(engine, copy_project(scratch / "ours"), scratch, "ours", keys=True)
        empty = ready(engine, empty_project(scratch / "empty"), scratch, "empty", keys=False)
        commands = {"preview": ("preview",), "up": ("up", "--yes")}
        times: dict[tuple[str, str], list[float]] = {}
        for _ in range(runs):  # alternated: ours, empty, ours, empty ...
            for command, args in commands.items():
                for name, cli in (("ours", ours), ("empty", empty)):
                    times.setdefault((command, name), []).append(timed(cli, *args))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; median of {runs}, alternated")
    for command in commands:
        mine, floor = (statistics.median(times[(command, name)]) for name in ("ours", "empty"))
        print(f"no-op {command:7s}: dev stack {mine * 1000:6.0f} ms, empty program {floor * 1000:6.0f} ms, "
              f"ratio {mine / floor:.2f} (goal <= 1.3)")


if __name__ == "__main__":
    main()
