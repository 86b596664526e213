"""Status and history reports as lines for people: colour from click.style, which click.echo drops
when stdout is not a terminal, so piped output stays plain."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from kimi_infra.content_hash import WITHHELD

if TYPE_CHECKING:
    from kimi_infra.ops.history import TargetHistory
    from kimi_infra.ops.status import KeyStatus, StackStatus, TargetStatus

SHORT_HASH = 12


def status_lines(report: StackStatus) -> list[str]:
    """One line per target, one per key, then the verdict."""
    lines = [f"target {t.name}  {shown(t.location)}  {_target_state(t, report.hash_algorithm)}"
             for t in report.targets]
    lines += [_key_line(k) for k in report.keys]
    lines += [f"endpoint {k.provider}  {k.base_url}  ({'kimi-infra:baseUrls' if k.custom_base_url else 'catalog'})"
              for k in report.keys]
    lines.append(f"stack {report.stack}  {_verdict(report)}")
    return lines


def _target_state(target: TargetStatus, algorithm: str) -> str:
    if target.state in ("error", "unknown"):
        return click.style(f"{target.state}: {target.error}", fg="red")
    rendered = (target.rendered_hash or "")[:SHORT_HASH]
    deployed = target.deployed_hash
    if target.state == "missing" or deployed is None:  # nothing deployed is what "missing" means
        return click.style(f"missing (rendered {rendered}...)", fg="red")
    if target.state == "drifted" and deployed == target.rendered_hash:
        return click.style("drifted (same content, but it holds a key and is not protected)", fg="yellow")
    if target.state == "drifted":
        held = "a config with keys (hash withheld)" if deployed == WITHHELD else f"{deployed[:SHORT_HASH]}..."
        return click.style(f"drifted (deployed {held}, rendered {rendered}...)", fg="yellow")
    revision = f"  revision {target.revision}" if target.revision else ""
    return click.style("in sync", fg="green") + f"  {algorithm} {rendered}{revision}"


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
    algorithm = target_history.hash_algorithm
    return [f"{head}  revision {r.revision}  {iso_time(r.time) or 'time unknown'}  {algorithm} {_short(r.content_hash)}"
            for r in target_history.revisions]


def _short(content_hash: str | None) -> str:
    # S3 knows the hash only from the metadata we write, so a version written by hand has none.
    return content_hash[:SHORT_HASH] if content_hash else "unknown (not written by kimi-infra)"


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
