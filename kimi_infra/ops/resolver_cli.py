"""`install-resolver`: write the launcher OpenClaw runs as the `kimi-infra` exec SecretRef provider.

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

import click

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

PING = json.dumps({"protocolVersion": 1, "provider": "kimi-infra", "ids": []})


@click.command("install-resolver")
@click.option("--dest", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the launcher, e.g. /opt/kimi-infra/bin/kimi-infra-resolve.")
def install_resolver(dest: Path) -> None:
    """Write the secretref resolver launcher OpenClaw runs (set its path as kimi-infra:resolver.command).

    The launcher runs this virtualenv's Python on this checkout, and is checked by running it once
    with an empty environment, as OpenClaw does.
    """
    from kimi_infra.atomic import write_atomic

    path = dest.expanduser().absolute()
    try:
        write_atomic(path, launcher_text().encode("utf-8"), 0o755)  # replaces a symlink, never follows it
    except OSError as error:
        raise KimiInfraError(f"install-resolver: cannot write {path}: {error.strerror}; "
                             "fix: run as the gateway's user with write access to that folder") from None
    ping(path)
    click.echo(f"wrote {path}; set `kimi-infra:resolver: {{command: {path}}}` in the stack file")


def launcher_text() -> str:
    """The launcher's source: this interpreter (not resolved: a venv's python is a symlink that
    finds its site-packages through its own path) and this checkout."""
    python = sys.executable
    if not python or " " in python or len(python.encode()) > MAX_SHEBANG:
        raise KimiInfraError(f"install-resolver: the interpreter path {python!r} cannot be a `#!` line "
                             f"(empty, has a space or is over {MAX_SHEBANG} bytes); fix: run it from a "
                             "virtualenv at a short path without spaces")
    return LAUNCHER.format(python=python, code_dir=str(CODE_DIR))


def ping(path: Path) -> None:
    """Run the launcher as OpenClaw would (empty environment, cwd = its folder) with an empty request."""
    try:
        result = subprocess.run([str(path)], input=PING, env={}, cwd=path.parent, capture_output=True, text=True,
                                timeout=60)
    except OSError as error:
        raise KimiInfraError(f"install-resolver: cannot run {path}: {error.strerror}; "
                             "fix: install to a filesystem that allows executables (not noexec)") from None
    except subprocess.TimeoutExpired:
        raise KimiInfraError(f"install-resolver: {path} did not answer a test request within 60 s; "
                             "fix: check that this virtualenv's Python starts (`make dev`)") from None
    if result.returncode != 0 or _answer(result.stdout) != {"protocolVersion": 1, "values": {}}:
        last = (result.stderr.strip().splitlines() or ["no answer"])[-1]
        raise KimiInfraError(f"install-resolver: {path} does not answer a test request ({last}); "
                             "fix: run `make dev` to complete the virtualenv, then install again")


def _answer(stdout: str) -> object:
    try:
        return json.loads(stdout)
    except json.JSONDecodeError:
        return None
