"""The `status` and `history` commands: the report on stdout, progress on stderr.

Colour comes from click.style; click.echo drops it when stdout is not a terminal, so piped
output and `--json` stay plain.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from kimi_infra.errors import KimiInfraError
from kimi_infra.options import stack_option

if TYPE_CHECKING:
    from kimi_infra.ops.history import TargetHistory
    from kimi_infra.ops.status import KeyStatus, StackStatus, TargetStatus

SHORT_HASH = 12

json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of lines.")


@click.command()
@stack_option
@json_option
@click.pass_context
def status(ctx: click.Context, stack: str, as_json: bool) -> None:
    """Compare each target with what `pulumi up` would write now; show each key's version and rotation.

    Exit 0: every target in sync and no rotation pending; 1: a target drifted or is missing, a
    key is missing, or a rotation is pending; 2: a check itself failed (one line each on stderr).
    With --json, always one JSON document, errors included. Never prints a key.
    """
    from kimi_infra.ops.status import EXIT_ERROR, stack_status  # 2, not 1: 1 means "drift or pending"
    from kimi_infra.stackfile import load_stack

    try:
        report = stack_status(load_stack(ctx.obj, stack).spec, ctx.obj, progress=_progress)
    except KimiInfraError as error:  # the stack file itself: no report to give
        click.echo(f"error: {error}", err=True)
        if as_json:
            click.echo(json.dumps({"stack": stack, "inSync": False, "exitCode": EXIT_ERROR, "error": str(error),
                                   "targets": [], "keys": []}, indent=2))
        ctx.exit(EXIT_ERROR)
    for message in report.errors:
        click.echo(f"error: {message}", err=True)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        for line in status_lines(report):
            click.echo(line)
    ctx.exit(report.exit_code)


@click.command()
@stack_option
@click.option("--target", "target_name", metavar="NAME", help="Only this target (its `name` in the stack file).")
@json_option
@click.pass_obj
def history(project_dir: Path, stack: str, target_name: str | None, as_json: bool) -> None:
    """List the revisions deployed to each target, newest first.

    From S3 object versions, SSM parameter history, or the local history file of a file target.
    """
    from kimi_infra.ops.history import stack_history
    from kimi_infra.stackfile import load_stack

    histories = stack_history(load_stack(project_dir, stack).spec, project_dir, target_name, progress=_progress)
    if as_json:
        click.echo(json.dumps({"stack": stack, "targets": [h.to_json() for h in histories]}, indent=2))
        return
    for target_history in histories:
        for line in history_lines(target_history):
            click.echo(line)


def _progress(message: str) -> None:
    click.echo(message, err=True)


# --- formatting -------------------------------------------------------------------------------


def status_lines(report: StackStatus) -> list[str]:
    """One line per target, one per key, then the verdict."""
    lines = [f"target {t.name}  {shown(t.location)}  {_target_state(t)}" for t in report.targets]
    lines += [_key_line(k) for k in report.keys]
    lines.append(f"stack {report.stack}  {_verdict(report)}")
    return lines


def _target_state(target: TargetStatus) -> str:
    if target.state in ("error", "unknown"):
        return click.style(f"{target.state}: {target.error}", fg="red")
    rendered = (target.rendered_sha256 or "")[:SHORT_HASH]
    if target.state == "missing":
        return click.style(f"missing (rendered {rendered}...)", fg="red")
    if target.state == "drifted" and target.deployed_sha256 == target.rendered_sha256:
        return click.style("drifted (same content, but it holds a key and is not protected)", fg="yellow")
    if target.state == "drifted":
        return click.style(f"drifted (deployed {target.deployed_sha256[:SHORT_HASH]}..., rendered {rendered}...)",
                           fg="yellow")
    revision = f"  revision {target.revision}" if target.revision else ""
    return click.style("in sync", fg="green") + f"  sha256 {rendered}{revision}"


def _key_line(key: KeyStatus) -> str:
    if key.state in ("error", "missing", "not-stored") and key.current_version is None:
        shown_state = "not in the store (keyMode reference does not need it)" if key.state == "not-stored" \
            else f"{key.state}: {key.error}" if key.error else key.state
        return f"key {key.provider}  {key.secret}  " + click.style(shown_state, fg="red" if key.state != "not-stored"
                                                                      else None)
    if key.current_version is None:
        current = click.style("no current version", fg="red")
    else:
        age = f" ({human_age(key.age_seconds)})" if key.age_seconds is not None else ""
        current = f"current {key.current_version}{age}"
    pending = click.style(key.pending, fg="yellow") if key.pending else "none"
    return f"key {key.provider}  {key.secret}  {current}  pending: {pending}"


def _verdict(report: StackStatus) -> str:
    if report.in_sync:
        return click.style("in sync", fg="green")
    problems = [f"{t.name} {t.state}" for t in report.targets if t.state != "in-sync"]
    problems += [f"{k.provider} rotation pending" for k in report.keys if k.pending]
    problems += [f"{k.provider} key {k.state}" for k in report.keys if k.state in ("missing", "error")]
    return click.style("out of sync: " + ", ".join(problems), fg="red")


def history_lines(target_history: TargetHistory) -> list[str]:
    """One line per revision, newest first; one line saying so when there is none."""
    from kimi_infra.ops.history import iso_time

    head = f"target {target_history.name}  {shown(target_history.location)}"
    if not target_history.revisions:
        return [f"{head}  no revisions recorded"]
    return [f"{head}  revision {r.revision}  {iso_time(r.time) or 'time unknown'}  sha256 {_short(r.sha256)}"
            for r in target_history.revisions]


def _short(sha256: str | None) -> str:
    # S3 knows the hash only from the metadata we write, so a version written by hand has none.
    return sha256[:SHORT_HASH] if sha256 else "unknown (not written by kimi-infra)"


def shown(location: str) -> str:
    """A file target's path relative to the working folder when below it; other locations as they are."""
    from kimi_infra.stackfile import display_path

    return display_path(Path(location)) if location.startswith("/") else location


def human_age(seconds: int) -> str:
    """`3 days old`, `5 hours old`, `1 minute old`, `under a minute old`."""
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        count = seconds // size
        if count:
            return f"{count} {unit}{'s' if count > 1 else ''} old"
    return "under a minute old"
