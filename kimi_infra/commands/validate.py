"""`validate`: check OpenClaw config files that kimi-infra renders (and, with --openclaw, the real client's verdict)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from kimi_infra.commands.options import json_option, plural, say
from kimi_infra.errors import EXIT_FINDING, KimiInfraError


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--allow-legacy", is_flag=True,
              help="Warn about the legacy clawdbot env block instead of failing (current OpenClaw rejects it).")
@click.option("--openclaw", "openclaw", metavar="PATH", type=click.Path(dir_okay=False, path_type=Path),
              help="Also run `PATH config validate --json` (the real OpenClaw client) and report both verdicts.")
@json_option
def validate(files: tuple[Path, ...], allow_legacy: bool, openclaw: Path | None, as_json: bool) -> None:
    """Check OpenClaw config files that kimi-infra renders; exit 1 if any fails.

    Checks the part of an OpenClaw config this tool owns (agents.defaults models, models.providers,
    env, secrets) against our model: OpenClaw's number limits, the key references, the legacy env
    block, and a secretref resolver command this host would refuse (a warning). A whole gateway
    config with sections of its own is for --openclaw PATH (the real `openclaw config validate`).
    """
    from kimi_infra.ops.validate_report import check_file

    reports = [check_file(path, allow_legacy=allow_legacy, openclaw=openclaw) for path in files]
    if as_json:
        click.echo(json.dumps({"ok": all(r.ok for r in reports), "files": [r.to_json() for r in reports]}, indent=2))
    else:
        for report in reports:
            _show(report)
    if not all(report.ok for report in reports):
        raise KimiInfraError.exit(EXIT_FINDING)  # each failure is already reported above


def _show(report) -> None:
    for warning in report.warnings:
        say(f"warning: {warning}")
    if report.error:
        say(f"invalid: {report.error}")
    else:
        click.echo(f"ok: {report.path} ({plural(report.providers, 'provider')}, {plural(report.models, 'model')};"
                   " kimi-infra's checks of the config it renders)")
    if report.openclaw is None:
        return
    verdict = "valid" if report.openclaw.valid else "invalid"
    line = f"openclaw: {report.path} {verdict}"
    if report.openclaw.valid:
        click.echo(line)
        return
    say(f"{line}: " + "; ".join(report.openclaw.issues))
