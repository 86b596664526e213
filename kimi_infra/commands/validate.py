"""`validate`: check OpenClaw config files against our model."""

from __future__ import annotations

from pathlib import Path

import click

from kimi_infra.errors import KimiInfraError


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
def validate(files: tuple[Path, ...]) -> None:
    """Check OpenClaw config files (JSON5) against our model; exit 1 if any fails."""
    from kimi_infra.validate import validate_file

    failed = 0
    for path in files:
        try:
            config = validate_file(path)
        except KimiInfraError as error:
            failed += 1
            click.echo(f"invalid: {error}", err=True)
            continue
        refs = len(config.agents.defaults.models)
        click.echo(f"ok: {path} ({len(config.models.providers)} providers, {refs} models)")
    if failed:
        raise KimiInfraError.exit(1)  # each failure is already reported above
