"""`render`: a stack's OpenClaw config, offline (imports neither boto3 nor pulumi)."""

from __future__ import annotations

from pathlib import Path

import click

from kimi_infra.commands.options import stack_option
from kimi_infra.errors import KimiInfraError


@click.command()
@stack_option
@click.option("--out", "-o", default=None, metavar="PATH|-",
              help="Where to write; '-' for stdout. Default: build/<stack>/openclaw.json5 in the project.")
@click.pass_obj
def render(project_dir: Path, stack: str, out: str | None) -> None:
    """Render a stack's OpenClaw config (JSON5) offline.

    In inline key mode the keys are read from MOONSHOT_API_KEY / KIMICODE_API_KEY in the
    environment, and the file is written with mode 0600.
    """
    from kimi_infra.errors import in_file
    from kimi_infra.ops.env_keys import keys_from_environment
    from kimi_infra.path_rules import check_distinct_paths
    from kimi_infra.render import render_stack
    from kimi_infra.stackfile import display_path, load_stack

    loaded = load_stack(project_dir, stack)
    with in_file(loaded.source):
        keys = keys_from_environment(loaded.spec) if loaded.spec.files_hold_keys else None
        rendered = render_stack(loaded.spec, keys)
    if out == "-":
        click.echo(rendered.text, nl=False)
        return
    path = Path(out) if out else project_dir / "build" / stack / "openclaw.json5"
    check_distinct_paths(project_dir, loaded.spec, loaded.source, out=path)  # never over a kept file
    _write(path, rendered.text, 0o600 if rendered.holds_secret else 0o644)
    # A key-bearing config gets no hash here: a plain sha256 of it could confirm a guessed key.
    summary = "holds keys, mode 0600" if rendered.holds_secret else f"sha256 {rendered.content_hash[:12]}"
    click.echo(f"wrote {display_path(path)} ({len(rendered.text)} bytes, {summary})")


def _write(path: Path, text: str, mode: int) -> None:
    from kimi_infra.atomic import is_special_file, write_atomic

    where = f"--out {path}"
    if path.is_dir():
        raise KimiInfraError("is a folder", where=where, fix="give a file path, or - for stdout")
    try:
        if is_special_file(path):  # /dev/null, /dev/stdout, a FIFO: write into it, never rename over it
            path.write_text(text, encoding="utf-8")
            return
        write_atomic(path, text.encode("utf-8"), mode)
    except OSError as error:
        raise KimiInfraError(f"cannot write: {error.strerror}", where=where, fix="choose a writable path") from None
