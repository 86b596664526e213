"""`deploy`: what `pulumi up` does, without the engine: show the diff, then write."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from kimi_infra.commands.options import (
    confirm_or_refuse,
    is_terminal,
    json_option,
    plural,
    profile_option,
    say,
    stack_option,
)
from kimi_infra.errors import KimiInfraError

if TYPE_CHECKING:
    from kimi_infra.models import StackSpec
    from kimi_infra.ops.deploy_plan import DeployPlan, Orphan
    from kimi_infra.secret import Secret

EXIT_DRIFT = 1


@click.command()
@stack_option
@click.option("--preview", is_flag=True, help="Show what would change (diff, drift, removed targets); write nothing.")
@click.option("--yes", "-y", is_flag=True, help="Overwrite targets that drifted since the last deploy (or that it "
              "never wrote) without asking; with --prune, also remove removed targets whose content changed.")
@click.option("--prune", is_flag=True, help="Remove targets deployed before that the stack no longer names "
              "(only where they still hold what deploy wrote and no stack names them).")
@json_option
@profile_option
@click.pass_obj
def deploy(project_dir: Path, stack: str, preview: bool, yes: bool, prune: bool, as_json: bool) -> None:
    """Write the stack's config to every target, as `pulumi up` would, after showing the diff.

    The diff of each target (keys masked) is shown first. A target whose content changed since
    our last deploy (drift), or that exists but was never written by it, is only overwritten
    with --yes or a yes at the prompt. Targets this command deployed before that the stack no
    longer names are listed; --prune removes each one that still holds what deploy wrote there,
    passes the path rules and that no stack names now. One whose content changed is kept (exit 1)
    unless confirmed (--yes); one another stack names, or that breaks a path rule, is always kept.
    A provider key found in MOONSHOT_API_KEY / KIMICODE_API_KEY is stored when the stack's secret
    store has none yet (an existing key is never overwritten: use `rotate`).
    """
    from kimi_infra.deploy import preflight
    from kimi_infra.errors import in_file
    from kimi_infra.ops.deploy_plan import apply_plan, plan_deploy
    from kimi_infra.ops.env_keys import keys_from_environment
    from kimi_infra.stackfile import load_stack

    loaded = load_stack(project_dir, stack)
    with in_file(loaded.source):
        env_keys = keys_from_environment(loaded.spec, required=False)
    preflight(loaded.spec, project_dir, env_keys)  # nothing is stored or written (or shown) if a check fails
    new_keys = _keys_not_stored(loaded.spec, project_dir, env_keys)
    plan = plan_deploy(loaded.spec, project_dir, known_keys=new_keys, preview=preview)
    if not as_json:
        _show(plan, prune)
    if preview:
        _finish_preview(plan, as_json)
        return
    _confirm_drift(plan, stack, yes, as_json)
    confirmed = prune and _confirm_removals(plan, yes, as_json)
    _store_new_keys(loaded.spec, project_dir, new_keys)
    pruned = apply_plan(plan, loaded.spec, project_dir, prune=prune, confirmed=confirmed, known_keys=new_keys,
                        progress=None if as_json else lambda location, outcome: say(f"{location}: {outcome}"),
                        say=lambda line: say(f"stack {stack}: {line}"))
    if as_json:
        click.echo(json.dumps(plan.to_json(applied=True, pruned=pruned), indent=2))
    else:
        written = sum(1 for outcome in plan.outcomes.values() if outcome == "written")
        removed = f", {len(pruned)} removed" if pruned else ""
        click.echo(f"deployed stack {stack}: {written} written, {len(plan.outcomes) - written} unchanged{removed}")
    if prune:
        _refuse_kept(plan, pruned, stack, as_json)


def _keys_not_stored(spec: StackSpec, project_dir: Path, keys: dict[str, Secret]) -> dict[str, Secret]:
    """The environment's keys for providers whose store has no key yet (the others are ignored)."""
    from kimi_infra.stores import open_store

    return {name: key for name, key in keys.items() if not open_store(spec, name, project_dir).exists()}


def _store_new_keys(spec: StackSpec, project_dir: Path, keys: dict[str, Secret]) -> None:
    from kimi_infra.deploy import seed_missing_keys

    for name in seed_missing_keys(spec, project_dir, keys):
        say(f"stored a new key as {name}")


def _show(plan: DeployPlan, prune: bool) -> None:
    """Each target's action, its masked diff, and the targets the stack no longer names."""
    for target in plan.targets:
        label = "  exists, but deploy never wrote it" if target.foreign else "  drifted since the last deploy"
        drift = click.style(label, fg="yellow") if target.drift else ""
        click.echo(f"target {target.name}  {target.location}  {target.action}{drift}")
        if target.diff:
            click.echo(target.diff, nl=False)
        elif target.action == "update":
            click.echo("(only masked values differ: a key changed)")
    for orphan in plan.orphans:
        click.echo(f"target {orphan.name}  {orphan.location}  no longer in the stack: {_fate(orphan, prune)}")
        if orphan.holds_keys:
            say(f"warning: {orphan.location} holds API keys that later rotations will not update"
                + ("" if prune else "; remove it with `deploy --prune`"))


def _fate(orphan: Orphan, prune: bool) -> str:
    if orphan.keep and orphan.keep.final:
        return f"kept, not ours to remove: {orphan.keep.reason}"
    if orphan.keep:
        return f"kept unless confirmed (--prune --yes): {orphan.keep.reason}"
    return "will be removed (--prune)" if prune else "left in place (pass --prune to remove it)"


def _finish_preview(plan: DeployPlan, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(plan.to_json(applied=False), indent=2))
        return
    say(f"preview: {plural(len(plan.changes), 'target')} would change; nothing written")


def _confirm_drift(plan: DeployPlan, stack: str, yes: bool, as_json: bool) -> None:
    """Drifted targets are overwritten only with --yes, or a yes from a person at a terminal."""
    drifted = plan.drifted
    if not drifted or yes:
        return
    names = ", ".join(t.name for t in drifted)
    if not as_json and is_terminal():
        confirm_or_refuse(f"Overwrite the drifted {names}?", where=f"deploy --stack {stack}",
                          unchanged="every target", fix="pass --yes to overwrite")
        return
    what = ("hold content this stack's deploy never wrote" if any(t.foreign for t in drifted)
            else "changed since the last deploy")
    raise KimiInfraError(f"{plural(len(drifted), 'target')} {what} ({names}); nothing written",
                         where=f"deploy --stack {stack}",
                         fix="review the diff (`deploy --preview`), then pass --yes to overwrite",
                         exit_code=EXIT_DRIFT)


def _confirm_removals(plan: DeployPlan, yes: bool, as_json: bool) -> bool:
    """Whether removed targets whose content is not what deploy wrote may go: --yes, or a yes
    from a person at a terminal (no terminal: they are kept, and deploy exits 1)."""
    doubtful = plan.doubtful
    if not doubtful or yes:
        return yes
    if as_json or not is_terminal():
        return False
    names = ", ".join(o.location for o in doubtful)
    return click.confirm(f"Remove {names} anyway (its content is not what deploy wrote there)?", err=True)


def _refuse_kept(plan: DeployPlan, pruned: list[str], stack: str, as_json: bool) -> None:
    """Exit 1 (a finding) naming each removed target that --prune kept, and why."""
    kept = [o for o in plan.orphans if o.keep and o.location not in pruned]
    if not kept:
        return
    if as_json:
        raise KimiInfraError.exit(EXIT_DRIFT)  # the JSON document says which and why
    reasons = "; ".join(f"{o.location}: {o.keep.reason}" for o in kept if o.keep)
    raise KimiInfraError(f"kept {plural(len(kept), 'removed target')} ({reasons})", where=f"deploy --stack {stack}",
                         fix="a target another stack names, or that breaks a path rule, is never removed (it has "
                         "left the record); remove a changed one yourself, or pass --yes with --prune",
                         exit_code=EXIT_DRIFT)
