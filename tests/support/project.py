"""Small helpers shared by tests: run the CLI, write stack files into a scratch project."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            stdin: str | None = None) -> subprocess.CompletedProcess:
    """`python -m kimi_infra ...` in a real subprocess, as a user runs it."""
    full_env = {**os.environ, "PYTHONPATH": str(PROJECT_DIR), **(env or {})}
    return subprocess.run([sys.executable, "-m", "kimi_infra", *args], cwd=cwd or PROJECT_DIR, env=full_env,
                          input=stdin, capture_output=True, text=True, timeout=120)


def make_project(root: Path, stacks: dict[str, dict | str]) -> Path:
    """A scratch project with Pulumi.yaml and the given stack files (dict: `config:` values)."""
    (root / "stacks").mkdir(parents=True, exist_ok=True)
    (root / "Pulumi.yaml").write_text((PROJECT_DIR / "Pulumi.yaml").read_text())
    for name, content in stacks.items():
        text = content if isinstance(content, str) else yaml.safe_dump({"config": content}, sort_keys=False)
        (root / "stacks" / f"Pulumi.{name}.yaml").write_text(text)
    return root


def stack_config(**values) -> dict:
    """`kimi-infra:`-namespaced config values from keyword arguments (`key_mode` -> keyMode)."""
    return {f"kimi-infra:{key}": value for key, value in values.items()}


def dev_like(**overrides) -> dict:
    """A minimal valid stack config (global, both providers, one file target), with overrides."""
    values = {
        "kimi-infra:region": "global",
        "kimi-infra:providers": ["moonshot", "kimi-code"],
        "kimi-infra:targets": [{"name": "local", "kind": "file", "path": "out/openclaw.json5"}],
    }
    values.update({f"kimi-infra:{key}": value for key, value in overrides.items()})
    return values
