"""`rollback`: make a provider's previous key current again."""

from __future__ import annotations

import json
from pathlib import Path

import click

from kimi_infra.commands.options import json_option, profile_option, provider_option, say, stack_option


@click.command()
@stack_option
@provider_option
@json_option
@profile_option
@click.pass_obj
def rollback(project_dir: Path, stack: str, provider: str, as_json: bool) -> None:
    """Make a provider's previous key current again and re-write the targets that hold it.

    The key rotated out becomes previous, so running it twice swaps back. Refused while a
    rotation is pending.
    """
    from kimi_infra.commands.provider_stack import key_report, missing_key_hint, stack_provider
    from kimi_infra.ops import rotate as steps

    spec, _ = stack_provider(project_dir, stack, provider)
    with missing_key_hint(stack, provider):
        steps.rollback(spec, project_dir, provider, say=say)
    say(f"{stack}/{provider}: done")
    if as_json:
        click.echo(json.dumps(key_report(spec, project_dir, provider), indent=2))
