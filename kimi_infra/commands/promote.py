"""`promote`: carry the model settings of one stack file into the next."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from kimi_infra.commands.options import confirm_or_refuse, json_option, say

if TYPE_CHECKING:
    from kimi_infra.ops.promote import Promotion


@click.command()
@click.option("--from", "source", required=True, help="Stack to promote from (e.g. staging).")
@click.option("--to", "target", required=True, help="Stack whose file is updated (e.g. prod).")
@click.option("--dry-run", is_flag=True, help="Print the diff and write nothing.")
@click.option("--yes", "-y", is_flag=True, help="Apply without asking (needed when no terminal can answer).")
@json_option
@click.pass_obj
def promote(project_dir: Path, source: str, target: str, dry_run: bool, yes: bool, as_json: bool) -> None:
    """Copy providers, primary model, overrides, extra models and aliases from one stack to another.

    The target keeps its region, secret store, targets, key mode and `secure:` values; its file
    keeps its comments and key order. Prints the diff of the target's rendered config (keys
    masked) and refuses a result that does not validate.
    """
    from kimi_infra.ops.promote import apply_promotion, plan_promotion

    plan = plan_promotion(project_dir, source, target)
    if not plan.changed_fields:
        _report(plan, as_json, applied=False, note=f"{target} already matches {source}: nothing to promote")
        return
    if not as_json:
        say(f"promote {source} -> {target}: {', '.join(plan.changed_fields)} change in {plan.path.name}")
        click.echo(plan.rendered_diff() or "(the rendered config does not change)\n", nl=False)
    if dry_run:
        _report(plan, as_json, applied=False, note="dry run: nothing written")
        return
    _confirm(plan, yes, as_json)
    apply_promotion(plan)
    _report(plan, as_json, applied=True,
            note=f"wrote {plan.path.name}; run `kimi-infra deploy --stack {target}` or `pulumi up -s {target}` "
                 "to deploy it")


def _confirm(plan: Promotion, yes: bool, as_json: bool) -> None:
    if yes:
        return
    confirm_or_refuse(f"Write {plan.path.name}?", where=f"promote --from {plan.source} --to {plan.target}",
                      unchanged=plan.path.name, fix="pass --yes to write it (or --dry-run to only look)",
                      as_json=as_json)


def _report(plan: Promotion, as_json: bool, *, applied: bool, note: str) -> None:
    if not as_json:
        say(note)
        return
    click.echo(json.dumps({"from": plan.source, "to": plan.target, "file": plan.path.name,
                           "changedFields": list(plan.changed_fields), "applied": applied,
                           "diff": plan.rendered_diff()}, indent=2))
