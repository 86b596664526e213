"""`doctor`: is this host ready to operate a stack? One line per check, exit 1 if any fails."""

from __future__ import annotations

import json
from pathlib import Path

import click

from kimi_infra.commands.options import json_option, plural, profile_option, stack_option
from kimi_infra.errors import EXIT_FINDING, KimiInfraError


@click.command()
@stack_option
@click.option("--openclaw", metavar="PATH", help="The OpenClaw CLI to check (default: `openclaw` on PATH).")
@click.option("--region", metavar="REGION", help="Also check AWS credentials for this region's partition.")
@json_option
@profile_option
@click.pass_obj
def doctor(project_dir: Path, stack: str, openclaw: str | None, region: str | None, as_json: bool) -> None:
    """Check this host for the stack: AWS credentials per partition (STS), the secret store, the
    secretref resolver, S3 bucket versioning, the OpenClaw CLI. Exit 0 all ok, 1 a check failed."""
    from kimi_infra.ops.doctor import run_checks
    from kimi_infra.stackfile import load_stack

    checks = run_checks(load_stack(project_dir, stack).spec, project_dir, openclaw=openclaw, region=region)
    failed = [check for check in checks if not check.ok]
    if as_json:
        click.echo(json.dumps({"stack": stack, "ok": not failed, "checks": [c.to_json() for c in checks]}, indent=2))
    else:
        for check in checks:
            mark = click.style("ok  ", fg="green") if check.ok else click.style("FAIL", fg="red")
            fix = f"; fix: {check.fix}" if check.fix and not check.ok else ""
            click.echo(f"{mark} {check.name}: {check.detail}{fix}")
        verdict = f"{plural(len(failed), 'check')} failed" if failed else f"all {plural(len(checks), 'check')} ok"
        click.echo(f"stack {stack}: {verdict}")
    if failed:
        raise KimiInfraError.exit(EXIT_FINDING)  # the report above names each failure
