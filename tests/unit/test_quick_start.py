"""Acceptance: the README quick start, run from a fresh copy of the project exactly as written.

Copies the project's files (what git tracks or would track: no .venv, no state), then runs the
commands of the quick start's first code block in order (all but `make test`, which is this run).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from tests.support.project import PROJECT_DIR, copy_known_project


def quick_start_commands() -> list[str]:
    readme = (PROJECT_DIR / "README.md").read_text()
    section = readme[readme.index("## Quick start"):]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "the quick start has no bash block"
    commands = [line.split("#", 1)[0].strip() for line in block.group(1).splitlines()]
    return [command for command in commands if command and command != "make test"]


def fresh_copy(dest: Path) -> Path:
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=PROJECT_DIR, capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, (f.decode() for f in files)):
        source = PROJECT_DIR / name
        if source.is_file() and not name.startswith("stacks/"):  # the user's stacks: the known ones instead
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return copy_known_project(dest)


def test_the_readme_quick_start_works_from_a_fresh_copy(tmp_path: Path):
    commands = quick_start_commands()
    assert commands[0] == "make dev" and commands[1] == ".venv/bin/kimi-infra status --stack dev"
    project = fresh_copy(tmp_path / "kimi-infra")
    env = {k: v for k, v in os.environ.items()
           if k not in ("KIMI_INFRA_PROJECT_DIR", "PYTHONPATH", "VIRTUAL_ENV", "MOONSHOT_API_KEY", "KIMICODE_API_KEY")}
    for command in commands:
        result = subprocess.run(command, shell=True, cwd=project, env=env, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, f"{command}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert (project / ".kimi-infra" / "dev" / "openclaw.json5").is_file()
