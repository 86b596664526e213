"""`install-resolver`: write the launcher OpenClaw runs as the `kimi-infra` exec SecretRef provider."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("install-resolver")
@click.option("--dest", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the launcher, e.g. /opt/kimi-infra/bin/kimi-infra-resolve.")
def install_resolver(dest: Path) -> None:
    """Write the secretref resolver launcher OpenClaw runs (set its path as kimi-infra:resolver.command).

    The launcher runs this virtualenv's Python on this checkout, and is checked by running it once
    with an empty environment, as OpenClaw does.
    """
    from kimi_infra.ops.install_resolver import install

    path = install(dest)
    click.echo(f"wrote {path}; set `kimi-infra:resolver: {{command: {path}}}` in the stack file")
