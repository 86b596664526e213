"""`rotate`, `rollback` and `catalog-check`: the CLI over `ops.rotate` and `ops.verify`.

A key is read from a file or stdin, never from arguments, and never printed. Progress goes to
stderr, one line per step and per target. Everything heavy is imported inside the commands.
"""

from __future__ import annotations

import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from kimi_infra.errors import KimiInfraError
from kimi_infra.options import stack_option

if TYPE_CHECKING:
    from kimi_infra.models import StackSpec
    from kimi_infra.secret import Secret

provider_option = click.option("--provider", "-p", required=True, metavar="moonshot|kimi-code",
                               help="Whose key: moonshot or kimi-code (the keys are not interchangeable).")


def _say(line: str) -> None:
    click.echo(line, err=True)


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
    from kimi_infra.ops import rotate as steps

    key = read_key(key_file, key_stdin, provider)
    if key is None and not resume:
        raise click.UsageError("give the new key with --key-file PATH or --key-stdin (keys are never taken as "
                               "arguments), or --resume to finish an interrupted rotation")
    spec, base_url = stack_provider(project_dir, stack, provider)
    verify_url = None if skip_verify else verify_base_url or base_url
    if key is None:
        steps.resume(spec, project_dir, provider, verify_url=verify_url, say=_say)
    else:
        steps.rotate(spec, project_dir, provider, key, verify_url=verify_url, say=_say)
    _say(f"{stack}/{provider}: done")


@click.command()
@stack_option
@provider_option
@click.pass_obj
def rollback(project_dir: Path, stack: str, provider: str) -> None:
    """Make a provider's previous key current again and re-write the targets that hold it.

    The key rotated out becomes previous, so running it twice swaps back. Refused while a
    rotation is pending.
    """
    from kimi_infra.ops import rotate as steps

    spec, _ = stack_provider(project_dir, stack, provider)
    steps.rollback(spec, project_dir, provider, say=_say)
    _say(f"{stack}/{provider}: done")


@click.command("catalog-check")
@stack_option
@provider_option
@click.option("--base-url", "--verify-base-url", "base_url", metavar="URL",
              help="Ask URL/models instead of the stack region's endpoint from the catalog.")
@click.pass_obj
def catalog_check(project_dir: Path, stack: str, provider: str, base_url: str | None) -> None:
    """Compare the provider's live model ids with the ones this stack renders; exit 1 if they differ.

    Uses the provider's current key from the stack's secret store.
    """
    from kimi_infra.assemble import check_stack
    from kimi_infra.ops.verify import compare_ids, get_models
    from kimi_infra.paths import stack_file
    from kimi_infra.stores import open_store

    spec, catalog_url = stack_provider(project_dir, stack, provider)
    store = open_store(spec, provider, project_dir)
    key = store.get("current")
    if key is None:
        raise KimiInfraError(f"{store.name}: no current key; fix: run `pulumi up -s {stack}` or `rotate`")
    answer = get_models(provider, base_url or catalog_url, key)
    live = answer.model_ids()
    ours = [m.definition.id for m in check_stack(spec, stack_file(stack)) if m.provider == provider]
    diff = compare_ids(live, ours)
    click.echo(f"{provider} at {answer.url}: {len(set(live))} live models, {len(ours)} in our catalog")
    if diff.new:
        click.echo(f"new (live, not in our catalog): {', '.join(diff.new)}")
    if diff.missing:
        click.echo(f"missing (in our catalog, not live): {', '.join(diff.missing)}")
    if not diff.equal:
        sys.exit(1)
    click.echo("the catalog matches")


def stack_provider(project_dir: Path, stack: str, provider: str) -> tuple[StackSpec, str]:
    """The stack's spec and the provider's catalog base URL for its region; the provider must be enabled."""
    from kimi_infra.assemble import check_stack
    from kimi_infra.catalog import PROVIDERS
    from kimi_infra.stackfile import load_stack

    info = PROVIDERS.get(provider)
    if info is None:
        raise click.BadParameter(f"{provider!r} is not a provider; use one of {', '.join(PROVIDERS)}",
                                 param_hint="'--provider'")
    loaded = load_stack(project_dir, stack)
    check_stack(loaded.spec, loaded.source)  # e.g. a provider without an endpoint in the stack's region
    if provider not in loaded.spec.providers:
        raise KimiInfraError(f"{loaded.source}: kimi-infra:providers: {provider} is not enabled in stack {stack}; "
                             f"fix: use one of {', '.join(loaded.spec.providers)}")
    return loaded.spec, info.base_urls[loaded.spec.region]


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
        raise KimiInfraError(f"the new {provider} key is empty; fix: give the key itself (one line)")
    check_key_text(provider, key)
    return key


def _read_key_file(path: Path) -> str:
    try:
        data = path.read_bytes()
        mode = path.stat().st_mode
    except OSError as error:
        raise KimiInfraError(f"{path}: cannot read the key file: {error.strerror}; fix: check the path") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        _say(f"warning: {path} can be read by other users (mode {stat.S_IMODE(mode):04o}); "
             f"fix: chmod 600 {path}, or pipe the key with --key-stdin")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:  # its message would quote bytes of the key
        raise KimiInfraError(f"{path}: the key file is not UTF-8 text; fix: save the key alone as text") from None
