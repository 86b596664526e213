"""`deploy`: what `pulumi up` does, without the engine."""

from __future__ import annotations

from pathlib import Path

import click

from kimi_infra.commands.options import say, stack_option


@click.command()
@stack_option
@click.pass_obj
def deploy(project_dir: Path, stack: str) -> None:
    """Write the stack's config to every target now, as `pulumi up` would, without the engine.

    A provider key found in MOONSHOT_API_KEY / KIMICODE_API_KEY is stored when the stack's
    secret store has none yet (an existing key is never overwritten: use `rotate`). Targets
    whose content is already deployed are not written.
    """
    from kimi_infra.deploy import deploy_all, preflight, seed_missing_keys
    from kimi_infra.errors import in_file
    from kimi_infra.ops.env_keys import keys_from_environment
    from kimi_infra.stackfile import load_stack

    loaded = load_stack(project_dir, stack)
    with in_file(loaded.source):
        keys = keys_from_environment(loaded.spec, required=False)
    preflight(loaded.spec, project_dir, keys)  # nothing is stored or written if a check fails
    for name in seed_missing_keys(loaded.spec, project_dir, keys):
        say(f"stored a new key as {name}")
    outcomes = deploy_all(loaded.spec, project_dir, progress=lambda location, outcome: say(f"{location}: {outcome}"))
    written = sum(1 for outcome in outcomes.values() if outcome == "written")
    click.echo(f"deployed stack {stack}: {written} written, {len(outcomes) - written} unchanged")
