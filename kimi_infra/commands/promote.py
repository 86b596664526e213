"""`promote`: carry the model settings of one stack file into the next."""

from __future__ import annotations

from pathlib import Path

import click

from kimi_infra.commands.options import say
from kimi_infra.errors import KimiInfraError


@click.command()
@click.option("--from", "source", required=True, help="Stack to promote from (e.g. staging).")
@click.option("--to", "target", required=True, help="Stack whose file is updated (e.g. prod).")
@click.option("--dry-run", is_flag=True, help="Print the diff and write nothing.")
@click.option("--yes", "-y", is_flag=True, help="Apply without asking.")
@click.pass_obj
def promote(project_dir: Path, source: str, target: str, dry_run: bool, yes: bool) -> None:
    """Copy providers, primary model, overrides, extra models and aliases from one stack to another.

    The target keeps its region, secret store, targets, key mode and `secure:` values; its file
    keeps its comments and key order. Prints the diff of the target's rendered config (keys
    masked) and refuses a result that does not validate.
    """
    from kimi_infra.ops.promote import apply_promotion, plan_promotion

    plan = plan_promotion(project_dir, source, target)
    if not plan.changed_fields:
        say(f"{target} already matches {source}: nothing to promote")
        return
    say(f"promote {source} -> {target}: {', '.join(plan.changed_fields)} change in {plan.path.name}")
    click.echo(plan.rendered_diff() or "(the rendered config does not change)\n", nl=False)
    if dry_run:
        say("dry run: nothing written")
        return
    if not yes and not click.confirm(f"Write {plan.path.name}?", err=True):
        raise KimiInfraError(f"not confirmed, {plan.path.name} unchanged", where="promote")
    apply_promotion(plan)
    say(f"wrote {plan.path.name}; run `pulumi up -s {target}` to deploy it")
