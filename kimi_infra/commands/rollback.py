"""`rollback`: make a provider's previous key current again."""

from __future__ import annotations

from pathlib import Path

import click

from kimi_infra.commands.options import provider_option, say, stack_option


@click.command()
@stack_option
@provider_option
@click.pass_obj
def rollback(project_dir: Path, stack: str, provider: str) -> None:
    """Make a provider's previous key current again and re-write the targets that hold it.

    The key rotated out becomes previous, so running it twice swaps back. Refused while a
    rotation is pending.
    """
    from kimi_infra.commands.provider_stack import stack_provider
    from kimi_infra.ops import rotate as steps

    spec, _ = stack_provider(project_dir, stack, provider)
    steps.rollback(spec, project_dir, provider, say=say)
    say(f"{stack}/{provider}: done")
