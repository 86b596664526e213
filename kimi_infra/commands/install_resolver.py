"""`install-resolver`: write the launcher OpenClaw runs as the `kimi-infra` exec SecretRef provider."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("install-resolver")
@click.option("--dest", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the launcher, e.g. /opt/kimi-infra/bin/kimi-infra-resolve.")
def install_resolver(dest: Path) -> None:
    """Write the secretref resolver launcher OpenClaw runs (set its path as kimi-infra:resolver.command).

    The launcher runs this virtualenv's Python on this checkout. It is written beside --dest,
    checked by running it once with an empty environment (as OpenClaw does), and only then renamed
    into place: a failed install leaves the launcher that was there untouched.

    The gateway runs the launcher with its AWS identity, so --dest is refused when it is the
    Python interpreter or lies inside this virtualenv or this code, and when its folder or any
    folder above it (symlinks resolved too) belongs to another user than root or you, or is
    group- or world-writable without the sticky bit (another user could swap the launcher).
    """
    from kimi_infra.ops.install_resolver import install

    path = install(dest)
    click.echo(f"wrote {path}; set `kimi-infra:resolver: {{command: {path}}}` in the stack file")
