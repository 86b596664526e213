"""`fleet`: what every gateway of a stack runs, against what the stack publishes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from kimi_infra.commands.options import json_option, profile_option, stack_option

if TYPE_CHECKING:
    from kimi_infra.fleet import FleetState


@click.command()
@stack_option
@json_option
@profile_option
@click.pass_obj
def fleet(project_dir: Path, stack: str, as_json: bool) -> None:
    """What every gateway of a stack runs, against what the stack publishes now.

    Reads the facts and the reports that `kimi-infra agent` writes next to the stack's S3/SSM
    targets (a gateway shows up with its agent's first report). One line per gateway: current (it
    runs the published config revision and key versions), lagging, or stale (no report for three
    heartbeats, or a report that is not its own); then, per provider, how many gateways still run
    an older key.

    \b
    --json: {stack, current: {configRevision, keyVersions}, oldKeys,
             gateways: [{gatewayId, host, target, configRevision, keyVersions, appliedAt,
                         reportedAt, lastError, agentVersion, current, stale}]}

    Exit 0 when every gateway that reported is current and live (also when none has), 1 when one
    lags or is stale, 2 on an error (unknown stack, no fleet in the stack file, AWS).
    """
    from kimi_infra.errors import EXIT_FINDING, KimiInfraError
    from kimi_infra.fleet import fleet_state
    from kimi_infra.stackfile import load_stack

    state = fleet_state(load_stack(project_dir, stack).spec)
    if as_json:
        click.echo(json.dumps(state.to_json(), indent=2))
    else:
        _show(state)
    if not state.ok:
        raise KimiInfraError.exit(EXIT_FINDING)


def _show(state: FleetState) -> None:
    current = state.current
    revision = current.config_revision[:12] if current else "none published"
    versions = current.key_versions if current else {}
    keys = ", ".join(f"{provider} {version[:12]}" for provider, version in versions.items()) or "-"
    click.echo(f"stack {state.stack}: config {revision}, keys {keys}")
    for gateway in state.gateways:
        shown = {name: _printable(value) for name, value in gateway.items()}
        verdict = "stale" if gateway["stale"] else "current" if gateway["current"] else "lagging"
        error = f", last error: {shown['lastError']}" if gateway.get("lastError") else ""
        click.echo(f"  {shown['gatewayId']} ({shown['host']}, {shown['target']}): {verdict}, config "
                   f"{shown['configRevision'][:12]}, reported {shown['reportedAt']}{error}")
    for provider, count in state.old_keys().items():
        click.echo(f"  {provider}: {count} gateway(s) still on an older key")
    if not state.gateways:
        click.echo("  no gateway has reported yet")


def _printable(value: object) -> str:
    """A report field as one line of plain text: each agent writes its own report, so a line
    break or terminal escape in it must not fake lines of this output."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in str(value))
