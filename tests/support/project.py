"""Projects for tests: the checkout's code, the known stacks (never the user's `stacks/`), scratch
projects with given stack files, and the CLI run as a user runs it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any

import yaml

PROJECT_DIR = Path(__file__).resolve().parents[2]
"""The checkout: its code, Pulumi.yaml and bin/. Tests never read its `stacks/` (the user's to change)."""

KNOWN_STACKS_DIR = Path(__file__).with_name("stacks")
"""Copies of the stack files as shipped, so that a user adding or promoting a stack breaks no test."""

KNOWN_STACKS = ("dev", "staging", "prod", "prod-cn")

CANARY_KEY = "sk-canary-0123456789abcdefghijklmnopqrstuvwxyzCANARY"
"""A fake API key that tests plant and then search for in every output that must not hold it."""


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            stdin: str | None = None, in_process: bool = True) -> subprocess.CompletedProcess:
    """`kimi-infra ...` with these arguments, working folder, environment and stdin; its exit code,
    stdout and stderr as a CompletedProcess.

    By default in this process, through click's test runner: the same command code with the same
    inputs, without a fresh interpreter and its imports per call (most tests are about what the
    CLI says and writes). An exception that escapes the CLI ends as it would in a process: exit 1
    and its traceback on stderr. `in_process=False` runs `python -m kimi_infra` in a real
    subprocess, for tests about the process itself (imports, signals, what other processes see).
    """
    if not in_process:
        full_env = {**os.environ, "PYTHONPATH": str(PROJECT_DIR), **(env or {})}
        return subprocess.run([sys.executable, "-m", "kimi_infra", *args], cwd=cwd or PROJECT_DIR, env=full_env,
                              input=stdin, capture_output=True, text=True, timeout=120)
    return _run_in_process(list(args), cwd or PROJECT_DIR, env or {}, stdin)


def _run_in_process(args: list[str], cwd: Path, env: dict[str, str], stdin: str | None) -> subprocess.CompletedProcess:
    from click.testing import CliRunner

    from kimi_infra.cli import cli

    before = Path.cwd()
    os.chdir(cwd)
    try:
        result = CliRunner(env=env).invoke(cli, args, input=stdin, prog_name="kimi-infra")
    finally:
        os.chdir(before)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception))
    return subprocess.CompletedProcess(["kimi-infra", *args], result.exit_code, result.stdout, stderr)


def copy_known_project(root: Path, stacks: tuple[str, ...] = KNOWN_STACKS) -> Path:
    """A scratch project with Pulumi.yaml and the known stack files, byte for byte (comments included)."""
    (root / "stacks").mkdir(parents=True, exist_ok=True)
    shutil.copy(PROJECT_DIR / "Pulumi.yaml", root / "Pulumi.yaml")
    for stack in stacks:
        shutil.copy(known_stack_file(stack), root / "stacks" / f"Pulumi.{stack}.yaml")
    return root


def known_stack_file(stack: str) -> Path:
    return KNOWN_STACKS_DIR / f"Pulumi.{stack}.yaml"


def known_stack_config(stack: str) -> dict[str, Any]:
    """The `config:` values of a known stack, to change and write into a scratch project."""
    return yaml.safe_load(known_stack_file(stack).read_text())["config"]


def make_project(root: Path, stacks: dict[str, dict | str]) -> Path:
    """A scratch project with Pulumi.yaml and the given stack files (dict: `config:` values)."""
    (root / "stacks").mkdir(parents=True, exist_ok=True)
    shutil.copy(PROJECT_DIR / "Pulumi.yaml", root / "Pulumi.yaml")
    for name, content in stacks.items():
        text = content if isinstance(content, str) else yaml.safe_dump({"config": content}, sort_keys=False)
        (root / "stacks" / f"Pulumi.{name}.yaml").write_text(text)
    return root


def stack_config(**values: Any) -> dict[str, Any]:
    """`kimi-infra:`-namespaced config values from keyword arguments (`key_mode` -> keyMode)."""
    return {f"kimi-infra:{key}": value for key, value in values.items()}


def dev_like(**overrides: Any) -> dict[str, Any]:
    """A minimal valid stack config (global, both providers, one file target), with overrides."""
    values = {
        "kimi-infra:region": "global",
        "kimi-infra:providers": ["moonshot", "kimi-code"],
        "kimi-infra:targets": [{"name": "local", "kind": "file", "path": "out/openclaw.json5"}],
    }
    values.update(stack_config(**overrides))
    return values
