"""`status`: drift of every target, key versions, pending rotations; the report on stdout."""

from __future__ import annotations

import json
from pathlib import Path

import click

from kimi_infra.commands.options import json_option, say, stack_option
from kimi_infra.errors import KimiInfraError


@click.command()
@stack_option
@json_option
@click.pass_obj
def status(project_dir: Path, stack: str, as_json: bool) -> None:
    """Compare each target with what `pulumi up` would write now; show each key's version and rotation.

    Exit 0: every target in sync and no rotation pending; 1: a target drifted or is missing, a
    key is missing, or a rotation is pending; 2: a check itself failed (one line each on stderr).
    With --json, always one JSON document, errors included. Never prints a key.
    """
    from kimi_infra.commands.report_lines import status_lines
    from kimi_infra.ops.status import EXIT_ERROR, stack_status  # 2, not 1: 1 means "drift or pending"
    from kimi_infra.stackfile import load_stack

    try:
        report = stack_status(load_stack(project_dir, stack).spec, project_dir, progress=say)
    except KimiInfraError as error:  # the stack file itself: no report to give
        if as_json:
            click.echo(json.dumps({"stack": stack, "inSync": False, "exitCode": EXIT_ERROR, "error": error.to_json(),
                                   "targets": [], "keys": []}, indent=2))
        raise error.with_exit_code(EXIT_ERROR) from None
    for message in report.errors:
        click.echo(f"error: {message}", err=True)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        for line in status_lines(report):
            click.echo(line)
    if report.exit_code:
        raise KimiInfraError.exit(report.exit_code)  # the report says what is wrong
