"""`history`: the revisions deployed to each target, newest first; `--redeploy` puts one back."""

from __future__ import annotations

import json
from pathlib import Path

import click

from kimi_infra.commands.options import confirm_or_refuse, json_option, profile_option, say, stack_option


@click.command()
@stack_option
@click.option("--target", "target_name", metavar="NAME", help="Only this target (its `name` in the stack file).")
@click.option("--redeploy", "revision", metavar="REV",
              help="Put revision REV of --target back (shows the diff; asks, or --yes).")
@click.option("--yes", "-y", is_flag=True, help="With --redeploy: write without asking.")
@json_option
@profile_option
@click.pass_obj
def history(project_dir: Path, stack: str, target_name: str | None, revision: str | None, yes: bool,
            as_json: bool) -> None:
    """List the revisions deployed to each target, newest first, or put one back with --redeploy.

    From S3 object versions, SSM parameter history, or the local history file of a file target
    (hashes only: a file target cannot be redeployed). --redeploy refuses a revision kimi-infra did
    not write (its recorded content hash is missing or wrong) and one holding a key that is no
    longer current (a redeploy never brings back a rotated-out key; `deploy` writes today's keys).
    """
    from kimi_infra.stackfile import load_stack

    if revision is not None and target_name is None:
        raise click.UsageError("--redeploy needs --target NAME (one target at a time)")
    spec = load_stack(project_dir, stack).spec
    if revision is not None:
        _redeploy(spec, project_dir, target_name or "", revision, yes, as_json)
        return
    _list(spec, project_dir, stack, target_name, as_json)


def _list(spec, project_dir: Path, stack: str, target_name: str | None, as_json: bool) -> None:
    from kimi_infra.commands.report_lines import history_lines
    from kimi_infra.ops.history import stack_history

    histories = stack_history(spec, project_dir, target_name, progress=say)
    if as_json:
        click.echo(json.dumps({"stack": stack, "targets": [h.to_json() for h in histories]}, indent=2))
        return
    for target_history in histories:
        for line in history_lines(target_history):
            click.echo(line)


def _redeploy(spec, project_dir: Path, target_name: str, revision: str, yes: bool, as_json: bool) -> None:
    from kimi_infra.ops.redeploy import apply_redeploy, plan_redeploy

    plan = plan_redeploy(spec, project_dir, target_name, revision)
    if not as_json:
        click.echo(plan.diff or f"(revision {revision} is what {target_name} holds now)\n", nl=False)
    if not yes:
        confirm_or_refuse(f"Put revision {revision} back on {plan.target.location}?",
                          where=f"history --redeploy {revision}", unchanged=plan.target.location,
                          fix="pass --yes to put the revision back", as_json=as_json)
    outcome = apply_redeploy(plan, project_dir)
    if as_json:
        click.echo(json.dumps(plan.to_json(applied=True, outcome=outcome), indent=2))
        return
    click.echo(f"{plan.target.location}: revision {revision} put back ({outcome}); the next `deploy` shows "
               "the diff to the stack's render")
