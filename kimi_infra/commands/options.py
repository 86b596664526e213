"""Click options shared by the command modules."""

from __future__ import annotations

import os

import click

JSON_FLAG = "kimi_infra.json"
"""ctx.meta key: set when --json was given, so the group reports errors as JSON too."""

stack_option = click.option("--stack", "-s", required=True, help="Stack name: stacks/Pulumi.<stack>.yaml.")

provider_option = click.option("--provider", "-p", required=True, metavar="moonshot|kimi-code",
                               help="Whose key: moonshot or kimi-code (the keys are not interchangeable).")


def _remember_json(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.meta[JSON_FLAG] = True
    return value


json_option = click.option("--json", "as_json", is_flag=True, callback=_remember_json, is_eager=True,
                           help="Print one JSON document on stdout (errors too) instead of lines.")


def _use_profile(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    # botocore reads AWS_PROFILE for every client this process makes: one switch for all of them.
    if value:
        os.environ["AWS_PROFILE"] = value
    return value


profile_option = click.option("--profile", metavar="NAME", expose_value=False, callback=_use_profile,
                              is_eager=True, help="AWS profile for this command (default: AWS_PROFILE).")


def say(line: str) -> None:
    """Progress and notes for people: one line on stderr (stdout stays the command's result)."""
    click.echo(line, err=True)


def plural(count: int, word: str) -> str:
    """`1 target`, `2 targets`, `0 targets`."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def confirm_or_refuse(question: str, *, where: str, unchanged: str, fix: str, as_json: bool = False) -> None:
    """Ask a person at a terminal; without one (or with --json) refuse with `fix` (which names --yes).
    Either refusal writes nothing: `unchanged` says what stays as it was."""
    from kimi_infra.errors import KimiInfraError

    if as_json or not is_terminal():
        raise KimiInfraError(f"no terminal to confirm, {unchanged} unchanged", where=where, fix=fix)
    if not click.confirm(question, err=True):
        raise KimiInfraError(f"not confirmed, {unchanged} unchanged", where=where)


def is_terminal() -> bool:
    """Whether a person can answer a prompt (stdin is a terminal)."""
    import sys

    return sys.stdin.isatty()
