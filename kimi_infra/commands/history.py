"""`history`: the revisions deployed to each target, newest first."""

from __future__ import annotations

import json
from pathlib import Path

import click

from kimi_infra.commands.options import json_option, say, stack_option


@click.command()
@stack_option
@click.option("--target", "target_name", metavar="NAME", help="Only this target (its `name` in the stack file).")
@json_option
@click.pass_obj
def history(project_dir: Path, stack: str, target_name: str | None, as_json: bool) -> None:
    """List the revisions deployed to each target, newest first.

    From S3 object versions, SSM parameter history, or the local history file of a file target.
    """
    from kimi_infra.commands.report_lines import history_lines
    from kimi_infra.ops.history import stack_history
    from kimi_infra.stackfile import load_stack

    histories = stack_history(load_stack(project_dir, stack).spec, project_dir, target_name, progress=say)
    if as_json:
        click.echo(json.dumps({"stack": stack, "targets": [h.to_json() for h in histories]}, indent=2))
        return
    for target_history in histories:
        for line in history_lines(target_history):
            click.echo(line)
