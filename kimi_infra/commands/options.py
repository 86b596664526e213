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


def is_terminal() -> bool:
    """Whether a person can answer a prompt (stdin is a terminal)."""
    import sys

    return sys.stdin.isatty()
