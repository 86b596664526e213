"""The real OpenClaw CLI for contract tests: installed once into a cache, each call run in isolation,
and our renders of the known stacks in every key mode.

`tests/contract/install_openclaw.sh` installs the pinned Node.js 24 + openclaw from the npm registry
(about a minute cold, ~0.01 s when cached). Without a registry the contract tests FAIL, so a broken
environment is never mistaken for a pass; `KIMI_INFRA_SKIP_CONTRACT=1` turns that failure into a
skip. `KIMI_INFRA_OPENCLAW_CACHE` picks another cache folder.

Every OpenClaw call gets a fresh HOME/TMPDIR/OPENCLAW_STATE_DIR and PATH=/usr/bin:/bin only, so
nothing from the developer's own OpenClaw setup or environment (keys!) leaks into a verdict. Only
Node's compile cache (bytecode of openclaw's own code, no state; Node checks each entry against the
source and V8 it was made for) is shared, by every call and gateway of every run (`compile_cache`):
OpenClaw keeps it under TMPDIR, so a fresh TMPDIR alone would make every call ~40% slower.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.project import CANARY_KEY, KNOWN_STACKS, known_stack_config, make_project, run_cli

INSTALL_SCRIPT = Path(__file__).resolve().parents[1] / "contract" / "install_openclaw.sh"
SKIP_ENV = "KIMI_INFRA_SKIP_CONTRACT"
CACHE_ENV = "KIMI_INFRA_OPENCLAW_CACHE"
INSTALL_TIMEOUT_S = 900
STACKS = KNOWN_STACKS
INLINE_KEYS = {"MOONSHOT_API_KEY": CANARY_KEY, "KIMICODE_API_KEY": CANARY_KEY.replace("CANARY", "KIMICODE")}
_MISSING_ENV = re.compile(r'Missing env var "([A-Z0-9_]+)"')

TIMINGS: dict[str, list[float]] = defaultdict(list)
"""Seconds per kind of call ("install (reused)", "config validate", ...), printed after the run."""


@dataclass
class OpenClawRun:
    """One CLI call: exit code, its JSON answer (None if stdout was not JSON), raw output."""

    returncode: int
    data: Any
    stdout: str
    stderr: str

    def missing_env_vars(self) -> set[str]:
        """Variables that `config validate` warns are unset."""
        warnings = (self.data or {}).get("warnings", [])
        return {m.group(1) for w in warnings if (m := _MISSING_ENV.search(w.get("message", "")))}

    def __str__(self) -> str:  # what a failing assert shows
        return f"exit {self.returncode}\nstdout: {self.stdout[-3000:]}\nstderr: {self.stderr[-2000:]}"


@dataclass
class OpenClaw:
    """The installed CLI; each call runs in a fresh, empty environment plus `env`."""

    launcher: Path
    scratch: Path

    def run(self, config: Path, *args: str, env: dict[str, str] | None = None) -> OpenClawRun:
        home = Path(tempfile.mkdtemp(dir=self.scratch))
        full_env = {**isolated_env(self.launcher, home, config), **(env or {})}
        start = time.monotonic()
        result = subprocess.run([str(self.launcher), *args], env=full_env, cwd=home, capture_output=True, text=True,
                                timeout=120)
        TIMINGS[" ".join(args[:2])].append(time.monotonic() - start)
        return OpenClawRun(result.returncode, _json_or_none(result.stdout), result.stdout, result.stderr)

    def validate(self, config: Path) -> OpenClawRun:
        """`openclaw config validate --json`: exit 0 and valid true, or exit 1 with `issues`."""
        return self.run(config, "config", "validate", "--json")

    def audit(self, config: Path, env: dict[str, str]) -> OpenClawRun:
        """`openclaw secrets audit --allow-exec --json`: resolves every SecretRef for real."""
        return self.run(config, "secrets", "audit", "--allow-exec", "--json", env=env)


def isolated_env(launcher: Path, home: Path, config: Path) -> dict[str, str]:
    """The environment every OpenClaw process of the tests starts from (module docstring): `home` as its
    HOME, TMPDIR and state, `config` as its config file, PATH=/usr/bin:/bin, the shared compile cache."""
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "TMPDIR": str(home),
            "OPENCLAW_STATE_DIR": str(home / "state"), "OPENCLAW_CONFIG_PATH": str(config),
            "NODE_COMPILE_CACHE": str(compile_cache(launcher)), **NO_CACHE_RESPAWN}


NO_CACHE_RESPAWN = {"OPENCLAW_PACKAGED_COMPILE_CACHE_RESPAWNED": "1"}
"""Where NODE_COMPILE_CACHE is set, openclaw.mjs starts a second node on a subfolder of it and waits for that
one (every CLI call and gateway: ~0.4 s more CPU each, ~150 calls in `make test`); this is the flag that
second node gets, so the first does the work itself, on our folder. Unknown to a later OpenClaw: it respawns
again, slower but the same."""


def compile_cache(launcher: Path) -> Path:
    """Node's compile cache for the OpenClaw install of `launcher`, kept beside the install (its
    `bin/` folder's parent) so that a warm run starts warm; a new install gets a folder of its own."""
    return launcher.parent.parent / "node-compile-cache"


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def install_openclaw(scratch: Path) -> OpenClaw:
    """The pinned OpenClaw CLI; fails (or skips with KIMI_INFRA_SKIP_CONTRACT=1) if it cannot be installed."""
    cache = os.environ.get(CACHE_ENV)
    start = time.monotonic()
    try:
        result = subprocess.run(["bash", str(INSTALL_SCRIPT), *([cache] if cache else [])], capture_output=True,
                                text=True, timeout=INSTALL_TIMEOUT_S)
        problem = None if result.returncode == 0 else (result.stderr.strip().splitlines() or ["no output"])[-1]
    except subprocess.TimeoutExpired:
        result, problem = None, f"the install took over {INSTALL_TIMEOUT_S} s"
    if problem is not None:
        if os.environ.get(SKIP_ENV) == "1":
            pytest.skip(f"{SKIP_ENV}=1 and the OpenClaw CLI cannot be installed: {problem}")
        pytest.fail(f"cannot install the OpenClaw CLI ({problem}); fix: give npm access to its registry, "
                    f"or set {SKIP_ENV}=1 to skip the contract tests", pytrace=False)
    fresh = "installed into" in result.stderr
    TIMINGS["install (fresh)" if fresh else "install (reused)"].append(time.monotonic() - start)
    return OpenClaw(Path(result.stdout.strip().splitlines()[-1]), scratch)


def mode_config(stack: str, mode: str, resolver: Path, project: Path) -> dict[str, Any]:
    """The known stack's `config:` switched to `mode` (reference | inline | secretref | legacy-inline)."""
    config = known_stack_config(stack)
    config["kimi-infra:keyMode"] = "inline" if mode == "legacy-inline" else mode
    config.pop("kimi-infra:resolver", None)
    if mode == "legacy-inline":
        config["kimi-infra:legacyEnvBlock"] = True
    if mode == "secretref":
        config["kimi-infra:resolver"] = {"command": str(resolver)}
        store = config["kimi-infra:secretStore"]
        if store["kind"] == "local":  # the resolver needs the store's absolute path
            store["path"] = str(project / store["path"])
    return config


def render_mode(root: Path, stack: str, mode: str, resolver: Path) -> tuple[Path, Path]:
    """Render `stack` in `mode` with the real CLI in a scratch project: (project dir, rendered file)."""
    project = root / f"{stack}-{mode}"
    make_project(project, {stack: mode_config(stack, mode, resolver, project)})
    out = project / "build" / "openclaw.json5"
    result = run_cli("--project-dir", str(project), "render", "--stack", stack, "--out", str(out),
                     env=INLINE_KEYS if "inline" in mode else None)
    assert result.returncode == 0, result.stderr
    return project, out
