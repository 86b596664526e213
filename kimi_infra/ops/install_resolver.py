"""install-resolver: write the launcher OpenClaw runs as the `kimi-infra` exec SecretRef provider.

OpenClaw runs exec providers with an empty environment (no PATH, no HOME) and cwd = the
command's folder, so `#!/usr/bin/env python3` would find the system Python without our
dependencies. The launcher names this virtualenv's interpreter by its absolute path and puts
this checkout on sys.path. OpenClaw also refuses a command that is a symlink, group/world
writable or owned by another user: the launcher is a regular 0755 file owned by whoever runs this.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from kimi_infra.errors import KimiInfraError

CODE_DIR = Path(__file__).resolve().parent.parent.parent  # the folder holding `kimi_infra/`
MAX_SHEBANG = 127  # bytes the kernel reads of a `#!` line on older Linux; longer ones get cut

LAUNCHER = '''#!{python}
"""kimi-infra exec SecretRef resolver for OpenClaw, written by `python -m kimi_infra install-resolver`."""
import sys

sys.path.insert(0, {code_dir!r})
from kimi_infra.resolver import main

sys.exit(main())
'''

WHERE = "install-resolver"
PING = json.dumps({"protocolVersion": 1, "provider": "kimi-infra", "ids": []})


def install(dest: Path) -> Path:
    """Write the launcher at `dest` (absolute, replacing a symlink, never following it) and test-run it."""
    from kimi_infra.atomic import write_atomic

    path = dest.expanduser().absolute()
    try:
        write_atomic(path, launcher_text().encode("utf-8"), 0o755)
    except OSError as error:
        raise KimiInfraError(f"cannot write {path}: {error.strerror}", where=WHERE,
                             fix="run as the gateway's user with write access to that folder") from None
    ping(path)
    return path


def launcher_text() -> str:
    """The launcher's source: this interpreter (not resolved: a venv's python is a symlink that
    finds its site-packages through its own path) and this checkout."""
    python = sys.executable
    if not python or " " in python or len(python.encode()) > MAX_SHEBANG:
        raise KimiInfraError(f"the interpreter path {python!r} cannot be a `#!` line "
                             f"(empty, has a space or is over {MAX_SHEBANG} bytes)", where=WHERE,
                             fix="run it from a virtualenv at a short path without spaces")
    return LAUNCHER.format(python=python, code_dir=str(CODE_DIR))


def ping(path: Path) -> None:
    """Run the launcher as OpenClaw would (empty environment, cwd = its folder) with an empty request."""
    try:
        result = subprocess.run([str(path)], input=PING, env={}, cwd=path.parent, capture_output=True, text=True,
                                timeout=60)
    except OSError as error:
        raise KimiInfraError(f"cannot run {path}: {error.strerror}", where=WHERE,
                             fix="install to a filesystem that allows executables (not noexec)") from None
    except subprocess.TimeoutExpired:
        raise KimiInfraError(f"{path} did not answer a test request within 60 s", where=WHERE,
                             fix="check that this virtualenv's Python starts (`make dev`)") from None
    if result.returncode != 0 or _answer(result.stdout) != {"protocolVersion": 1, "values": {}}:
        last = (result.stderr.strip().splitlines() or ["no answer"])[-1]
        raise KimiInfraError(f"{path} does not answer a test request ({last})", where=WHERE,
                             fix="run `make dev` to complete the virtualenv, then install again")


def _answer(stdout: str) -> object:
    try:
        return json.loads(stdout)
    except json.JSONDecodeError:
        return None
