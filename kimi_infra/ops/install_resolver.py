"""install-resolver: write the launcher OpenClaw runs as the `kimi-infra` exec SecretRef provider.

OpenClaw runs exec providers with an empty environment (no PATH, no HOME) and cwd = the
command's folder, so `#!/usr/bin/env python3` would find the system Python without our
dependencies. The launcher names this virtualenv's interpreter by its absolute path and puts
this checkout on sys.path. OpenClaw also refuses a command that is a symlink, group/world
writable or owned by another user: the launcher is a regular 0755 file owned by whoever runs this.

The gateway runs the launcher with its AWS identity, so where it goes is checked first: never the
interpreter it names nor anywhere in this virtualenv or this code (the launcher would replace what
it runs), and never below a folder another user could write to (they could swap the launcher).
It is written beside the destination, test-run there, and only then renamed into place, so a
failed install leaves the launcher that was there untouched.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from kimi_infra.errors import KimiInfraError

CODE_DIR = Path(__file__).resolve().parent.parent.parent  # the folder holding `kimi_infra/`
MAX_SHEBANG = 127  # bytes the kernel reads of a `#!` line on older Linux; longer ones get cut

MARKER = "written by `python -m kimi_infra install-resolver`"  # in every launcher; nothing else is replaced
LAUNCHER = '''#!{python}
"""kimi-infra exec SecretRef resolver for OpenClaw, ''' + MARKER + '''."""
import sys

sys.path.insert(0, {code_dir!r})
from kimi_infra.resolver import main

sys.exit(main())
'''

WHERE = "install-resolver"
PING = json.dumps({"protocolVersion": 1, "provider": "kimi-infra", "ids": []})


def install(dest: Path) -> Path:
    """Write the launcher at `dest` (absolute, replacing a symlink, never following it): beside it
    first, test-run there, then renamed over it. Refuses an unsafe `dest` before writing anything."""
    from kimi_infra.atomic import write_atomic

    path = dest.expanduser().absolute()
    check_destination(path)
    text = launcher_text().encode("utf-8")

    def check(temp: Path) -> None:
        check_folders(path)  # again: folders write_atomic just made follow the umask
        ping(temp, shown=path)

    try:
        write_atomic(path, text, 0o755, check=check)
    except OSError as error:
        raise KimiInfraError(f"cannot write {path}: {error.strerror or error}", where=WHERE,
                             fix="run as the gateway's user with write access to that folder") from None
    return path


def check_destination(path: Path) -> None:
    """Refuse a `path` that is (or is inside) what the launcher runs, or that another user could swap."""
    for what, place in _own_places():
        if _is_within(path, place):
            raise KimiInfraError(f"{path} is inside {what} ({place}): the launcher would replace what it runs",
                                 where=WHERE, fix=_SAFE_PLACE)
    if _same_file(path, Path(sys.executable)):
        raise KimiInfraError(f"{path} is the Python interpreter the launcher runs ({sys.executable})",
                             where=WHERE, fix=_SAFE_PLACE)
    _refuse_other_files(path)
    check_folders(path)


def _refuse_other_files(path: Path) -> None:
    """Only an earlier launcher (or a symlink, which is replaced, never followed) may be replaced:
    any other file there (a key store, a stack file, someone's program) is never overwritten."""
    try:
        info = path.lstat()
    except OSError:
        return  # nothing there (or no folder to hold it: the write says why)
    if stat.S_ISLNK(info.st_mode):
        return
    if stat.S_ISREG(info.st_mode):
        with path.open("rb") as handle:
            if MARKER.encode() in handle.read(1024):
                return
    raise KimiInfraError(f"{path} exists and is not a resolver launcher kimi-infra wrote: it is never replaced",
                         where=WHERE, fix=f"remove it yourself if it may go, or {_SAFE_PLACE}")


_SAFE_PLACE = "choose a path of its own, e.g. /opt/kimi-infra/bin/kimi-infra-resolve"


def check_folders(path: Path) -> None:
    """Refuse when the folder of `path`, or any folder above it (as given and with symlinks
    resolved), could be changed by another user: owned by someone other than root or this user,
    or group/world-writable without the sticky bit. As OpenSSH's StrictModes, plus the sticky
    bit: in /tmp (1777) nobody can rename another user's folder, elsewhere anyone who can write
    a folder can rename what is in it and put their own program in its place."""
    for folder in _folders_above(path):
        try:
            info = folder.stat()
        except OSError:
            continue  # not made yet (write_atomic makes it; checked again before the rename)
        if not stat.S_ISDIR(info.st_mode):
            continue
        if info.st_uid not in (0, os.geteuid()):
            raise KimiInfraError(f"{folder} belongs to another user (uid {info.st_uid}), who could swap the launcher "
                                 "the gateway runs with its AWS identity", where=WHERE, fix=_SAFE_PLACE)
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not info.st_mode & stat.S_ISVTX:
            who = "everyone" if info.st_mode & stat.S_IWOTH else "its group"
            raise KimiInfraError(f"{folder} is writable by {who} without the sticky bit: another user could swap the "
                                 "launcher the gateway runs with its AWS identity", where=WHERE,
                                 fix=f"`chmod go-w {folder}` or {_SAFE_PLACE}")


def _folders_above(path: Path) -> list[Path]:
    """The folders above `path`, nearest first, as written and with symlinks resolved."""
    resolved = path.parent.resolve()
    return [*path.parents, resolved, *resolved.parents]


def _own_places() -> list[tuple[str, Path]]:
    """The folders whose files the launcher runs: this virtualenv (not a system Python's prefix,
    which holds /usr/local/bin) and this code."""
    places = [("this code", CODE_DIR / "kimi_infra")]
    if sys.prefix != sys.base_prefix:
        places.append(("this virtualenv", Path(sys.prefix)))
    return places


def _is_within(path: Path, folder: Path) -> bool:
    """Whether `path` lands in `folder`, symlinks and `..` in either resolved (but not `path`
    itself: a symlink at the destination is replaced, not followed)."""
    return (path.parent.resolve() / path.name).is_relative_to(folder.resolve())


def _same_file(path: Path, other: Path) -> bool:
    """Whether `path` exists and is `other` (through symlinks or a hard link)."""
    try:
        return os.path.samefile(path, other)
    except OSError:
        return False


def launcher_text() -> str:
    """The launcher's source: this interpreter (not resolved: a venv's python is a symlink that
    finds its site-packages through its own path) and this checkout."""
    python = sys.executable
    if not python or " " in python or len(python.encode()) > MAX_SHEBANG:
        raise KimiInfraError(f"the interpreter path {python!r} cannot be a `#!` line "
                             f"(empty, has a space or is over {MAX_SHEBANG} bytes)", where=WHERE,
                             fix="run it from a virtualenv at a short path without spaces")
    return LAUNCHER.format(python=python, code_dir=str(CODE_DIR))


def ping(path: Path, shown: Path | None = None) -> None:
    """Run the launcher as OpenClaw would (empty environment, cwd = its folder) with an empty
    request; errors name `shown` (the destination, when `path` is the temp file beside it)."""
    name = shown or path
    try:
        result = subprocess.run([str(path)], input=PING, env={}, cwd=path.parent, capture_output=True, text=True,
                                timeout=60)
    except OSError as error:
        raise KimiInfraError(f"cannot run {name}: {error.strerror}", where=WHERE,
                             fix="install to a filesystem that allows executables (not noexec)") from None
    except subprocess.TimeoutExpired:
        raise KimiInfraError(f"{name} did not answer a test request within 60 s", where=WHERE,
                             fix="check that this virtualenv's Python starts (`make dev`)") from None
    if result.returncode != 0 or _answer(result.stdout) != {"protocolVersion": 1, "values": {}}:
        last = (result.stderr.strip().splitlines() or ["no answer"])[-1]
        raise KimiInfraError(f"{name} does not answer a test request ({last})", where=WHERE,
                             fix="run `make dev` to complete the virtualenv, then install again")


def _answer(stdout: str) -> object:
    try:
        return json.loads(stdout)
    except json.JSONDecodeError:
        return None
