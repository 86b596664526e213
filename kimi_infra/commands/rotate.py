"""`rotate`: stage, verify and promote a provider's new key; the key is read from a file or stdin,
never from arguments, and never printed."""

from __future__ import annotations

import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from kimi_infra.commands.options import provider_option, say, stack_option
from kimi_infra.errors import KimiInfraError

if TYPE_CHECKING:
    from kimi_infra.secret import Secret


@click.command()
@stack_option
@provider_option
@click.option("--key-file", type=click.Path(dir_okay=False, path_type=Path), metavar="PATH",
              help="Read the new key from this file (one line; keep it mode 0600).")
@click.option("--key-stdin", is_flag=True, help="Read the new key from stdin (a hidden prompt on a terminal).")
@click.option("--skip-verify", is_flag=True, help="Do not check the key against the provider first.")
@click.option("--verify-base-url", metavar="URL",
              help="Verify at URL/models instead of the stack region's endpoint from the catalog.")
@click.option("--resume", is_flag=True,
              help="Finish an interrupted rotation: the pending key in the store (no key needed).")
@click.pass_obj
def rotate(project_dir: Path, stack: str, provider: str, key_file: Path | None, key_stdin: bool,
           skip_verify: bool, verify_base_url: str | None, resume: bool) -> None:
    """Rotate a provider's API key: stage, verify, promote, re-write the targets that hold it.

    The new key is checked with GET <baseUrl>/models before it becomes current; the old key
    stays as previous (see `rollback`). Running it again with the same key, or with --resume,
    finishes a rotation that stopped half way.
    """
    from kimi_infra.commands.provider_stack import stack_provider
    from kimi_infra.ops import rotate as steps

    key = read_key(key_file, key_stdin, provider)
    if key is None and not resume:
        raise click.UsageError("give the new key with --key-file PATH or --key-stdin (keys are never taken as "
                               "arguments), or --resume to finish an interrupted rotation")
    spec, base_url = stack_provider(project_dir, stack, provider)
    verify_url = None if skip_verify else verify_base_url or base_url
    if key is None:
        steps.resume(spec, project_dir, provider, verify_url=verify_url, say=say)
    else:
        steps.rotate(spec, project_dir, provider, key, verify_url=verify_url, say=say)
    say(f"{stack}/{provider}: done")


def read_key(key_file: Path | None, key_stdin: bool, provider: str) -> Secret | None:
    """The new key from --key-file or --key-stdin as a Secret (stripped), or None if neither."""
    from kimi_infra.ops.verify import check_key_text
    from kimi_infra.secret import Secret

    if key_file and key_stdin:
        raise click.UsageError("give --key-file or --key-stdin, not both")
    if key_file:
        text = _read_key_file(key_file)
    elif key_stdin:
        text = click.prompt("new API key", hide_input=True, err=True) if sys.stdin.isatty() else sys.stdin.read()
    else:
        return None
    key = Secret(text.strip())
    if not key:
        raise KimiInfraError(f"the new {provider} key is empty", fix="give the key itself (one line)")
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
