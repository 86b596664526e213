"""Reading a key for `set-key` and `rotate`: from a file or stdin, never from arguments, never printed."""

from __future__ import annotations

import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from kimi_infra.commands.options import say
from kimi_infra.errors import KimiInfraError

if TYPE_CHECKING:
    from kimi_infra.secret import Secret

key_file_option = click.option("--key-file", type=click.Path(dir_okay=False, path_type=Path), metavar="PATH",
                               help="Read the key from this file (one line; keep it mode 0600).")
key_stdin_option = click.option("--key-stdin", is_flag=True,
                                help="Read the key from stdin (a hidden prompt on a terminal).")
skip_verify_option = click.option("--skip-verify", is_flag=True,
                                  help="Do not check the key against the provider first.")
verify_base_url_option = click.option(
    "--verify-base-url", metavar="URL",
    help="Verify at URL/models instead of the stack region's endpoint from the catalog.")

# A rotation verifies while holding the local store's rotation lock, for which another rotation
# waits up to 300 s (stores.local_file.ROTATION_WAIT_SECONDS): one verification stays well below.
MAX_VERIFY_TIMEOUT_S = 120.0
verify_timeout_option = click.option(
    "--verify-timeout", type=click.FloatRange(min=0, min_open=True, max=MAX_VERIFY_TIMEOUT_S),
    envvar="KIMI_INFRA_VERIFY_TIMEOUT", show_envvar=True, metavar="SECONDS",
    help="Give up verifying after SECONDS in all: connect, TLS and the whole answer (default 20, at most 120).")


def key_options(command):
    """The options of a command that takes a key and verifies it: --key-file, --key-stdin,
    --skip-verify, --verify-base-url, --verify-timeout (set-key and rotate)."""
    for option in (verify_timeout_option, verify_base_url_option, skip_verify_option, key_stdin_option,
                   key_file_option):
        command = option(command)
    return command


def check_key_source(key_file: Path | None, key_stdin: bool) -> None:
    """Usage errors about where the key comes from, before anything is read or written."""
    if key_file and key_stdin:
        raise click.UsageError("give --key-file or --key-stdin, not both")


def read_key(key_file: Path | None, key_stdin: bool, provider: str, *, new: bool = False) -> Secret | None:
    """The key from --key-file or --key-stdin as a Secret (stripped), or None if neither.
    `new`: it replaces a key (rotate), so messages say "the new ... key"."""
    from kimi_infra.key_rules import check_key_text
    from kimi_infra.secret import Secret

    check_key_source(key_file, key_stdin)
    label = f"new {provider}" if new else provider
    if key_file:
        text = _read_key_file(key_file)
    elif key_stdin:
        text = click.prompt(f"{label} API key", hide_input=True, err=True) if sys.stdin.isatty() \
            else sys.stdin.read()
    else:
        return None
    key = Secret(text.strip())
    if not key:
        raise KimiInfraError(f"the {label} key is empty", fix="give the key itself (one line)")
    check_key_text(provider, key)
    return key


def _read_key_file(path: Path) -> str:
    try:
        data = path.read_bytes()
        mode = path.stat().st_mode
    except OSError as error:
        raise KimiInfraError(f"cannot read the key file: {error.strerror}", where=str(path),
                             fix="check the path") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        say(f"warning: {path} can be read by other users (mode {stat.S_IMODE(mode):04o}); "
            f"fix: chmod 600 {path}, or pipe the key with --key-stdin")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:  # its message would quote bytes of the key
        raise KimiInfraError("the key file is not UTF-8 text", where=str(path),
                             fix="save the key alone as text") from None
