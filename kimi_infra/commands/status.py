"""`status`: drift of every target, key versions, pending rotations; the report on stdout."""

from __future__ import annotations

import json
from pathlib import Path

import click

from kimi_infra.commands.options import json_option, say, stack_option
from kimi_infra.errors import KimiInfraError

EXIT_OUT_OF_SYNC = 1
EXIT_ERROR = 2  # not 1 as elsewhere: for `status`, 1 already means "drift or pending rotation"


@click.command()
@stack_option
@json_option
@click.pass_obj
def status(project_dir: Path, stack: str, as_json: bool) -> None:
    """Compare each target with what `pulumi up` would write now; show each key's version and rotation.

    Exit 0: every target in sync and no rotation pending; 1: a target drifted or is missing, or
    a rotation is pending; 2: the check itself failed (one line on stderr). Never prints a key.
    """
    from kimi_infra.commands.report_lines import status_lines
    from kimi_infra.ops.status import stack_status
    from kimi_infra.stackfile import load_stack

    try:
        report = stack_status(load_stack(project_dir, stack).spec, project_dir, progress=say)
    except KimiInfraError as error:
        raise error.with_exit_code(EXIT_ERROR) from None
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        for line in status_lines(report):
            click.echo(line)
    if not report.in_sync:
        raise KimiInfraError.exit(EXIT_OUT_OF_SYNC)  # the report says what is out of sync
