"""What a user sees of the command group: grouped help, NO_COLOR, shell completion, plurals.

The real CLI in a subprocess (on a pseudo-terminal where colour matters).
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

from kimi_infra.cli import COMMANDS, SECTIONS
from tests.support.project import PROJECT_DIR, dev_like, make_project, run_cli


def test_help_lists_every_command_once_in_its_section():
    grouped = [name for names in SECTIONS.values() for name in names]
    assert sorted(grouped) == sorted(COMMANDS)
    result = run_cli("--help")
    assert result.returncode == 0
    for title in SECTIONS:
        assert f"\n{title}:\n" in result.stdout
    assert result.stdout.index("Deploy and keys:") < result.stdout.index("Operate:") < result.stdout.index("Inspect:")


def on_terminal(*args: str, env: dict[str, str]) -> str:
    """stdout of the CLI when stdout is a terminal."""
    controller, terminal = pty.openpty()
    try:
        subprocess.run([sys.executable, "-m", "kimi_infra", *args], stdout=terminal, stderr=subprocess.DEVNULL,
                       env={**env, "PYTHONPATH": str(PROJECT_DIR)}, timeout=120)
    finally:
        os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: the terminal's other end is closed and drained
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(controller)
    return b"".join(chunks).decode()


def test_no_color_turns_colour_off_on_a_terminal(tmp_path: Path):
    project = make_project(tmp_path, {"t": dev_like()})
    args = ("--project-dir", str(project), "doctor", "--stack", "t")
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    assert "\x1b[32mok" in on_terminal(*args, env=env)
    plain = on_terminal(*args, env={**env, "NO_COLOR": "1"})
    assert "ok   secret store" in plain and "\x1b[" not in plain


def test_bash_completion_is_clicks():
    env = {**os.environ, "_KIMI_INFRA_COMPLETE": "bash_complete", "COMP_WORDS": "kimi-infra set", "COMP_CWORD": "1"}
    result = subprocess.run([str(Path(sys.executable).parent / "kimi-infra")], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.stdout.split() == ["plain,set-key"]


def test_one_provider_is_singular(tmp_path: Path):
    project = make_project(tmp_path, {"t": dev_like(providers=["moonshot"])})
    out = tmp_path / "one.json5"
    assert run_cli("--project-dir", str(project), "render", "-s", "t", "--out", str(out)).returncode == 0
    assert "(1 provider, 4 models;" in run_cli("validate", str(out)).stdout
