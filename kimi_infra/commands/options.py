"""Click options shared by the command modules."""

from __future__ import annotations

import click

stack_option = click.option("--stack", "-s", required=True, help="Stack name: stacks/Pulumi.<stack>.yaml.")

provider_option = click.option("--provider", "-p", required=True, metavar="moonshot|kimi-code",
                               help="Whose key: moonshot or kimi-code (the keys are not interchangeable).")

json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of lines.")


def say(line: str) -> None:
    """Progress and notes for people: one line on stderr (stdout stays the command's result)."""
    click.echo(line, err=True)
