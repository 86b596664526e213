"""Is the secretref resolver command usable on this host, as OpenClaw checks it before running it?

OpenClaw runs an exec provider's `command` only if it is an absolute path to a regular file (not
a symlink) that is executable, not group- or world-writable, and owned by the gateway's user.
`validate` warns and `doctor` fails with the first rule a command breaks.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def resolver_problem(command: str) -> str | None:
    """Why OpenClaw would refuse to run `command` as this user, or None when it would run it."""
    path = Path(command)
    if not path.is_absolute():
        return f"{command} is not an absolute path"
    try:
        status = path.lstat()
    except FileNotFoundError:
        return f"{command} does not exist on this host"
    except OSError as error:
        return f"{command} cannot be read ({error.strerror})"
    if stat.S_ISLNK(status.st_mode):
        return f"{command} is a symlink (OpenClaw refuses those)"
    if not stat.S_ISREG(status.st_mode):
        return f"{command} is not a regular file"
    if not os.access(path, os.X_OK):
        return f"{command} is not executable"
    if status.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"{command} is group- or world-writable (mode {stat.S_IMODE(status.st_mode):04o})"
    if status.st_uid != os.getuid():
        return f"{command} is owned by another user (uid {status.st_uid}, this user is {os.getuid()})"
    return None


RESOLVER_FIX = "run `kimi-infra install-resolver --dest PATH` as the gateway's user and set that PATH as " \
               "kimi-infra:resolver.command"
