"""`rotate`: stage, verify and promote a provider's new key; the key is read from a file or stdin,
never from arguments, and never printed."""

from __future__ import annotations

import json
from pathlib import Path

import click

from kimi_infra.commands.key_input import check_key_source, key_options, read_key
from kimi_infra.commands.options import json_option, profile_option, provider_option, say, stack_option


@click.command()
@stack_option
@provider_option
@key_options
@click.option("--resume", is_flag=True,
              help="Finish an interrupted rotation: the pending key in the store (no key needed).")
@click.option("--reload-gateway", is_flag=True,
              help="Then run `openclaw secrets reload` (the gateway named by OPENCLAW_CONFIG_PATH) and check it.")
@click.option("--openclaw", "openclaw", default="openclaw", show_default=True, metavar="PATH",
              help="The openclaw command --reload-gateway runs.")
@click.option("--wait-fleet", is_flag=True,
              help="Then wait until every live gateway's agent reports the new key (see `fleet`), and say from "
                   "when the old key may be revoked.")
@click.option("--fleet-timeout", type=float, metavar="SECONDS",
              help="With --wait-fleet: give up after this long (exit 1 naming the gateways that lag; default 600).")
@click.option("--revoke-grace", type=click.IntRange(min=0), default=None, metavar="SECONDS",
              help="With --wait-fleet: the grace period after the last gateway's reload before the old key may "
                   "be revoked; longer than your longest request (default 300).")
@json_option
@profile_option
@click.pass_obj
def rotate(project_dir: Path, stack: str, provider: str, key_file: Path | None, key_stdin: bool,
           skip_verify: bool, verify_base_url: str | None, verify_timeout: float | None, resume: bool,
           reload_gateway: bool, openclaw: str, wait_fleet: bool, fleet_timeout: float | None,
           revoke_grace: int | None, as_json: bool) -> None:
    """Rotate a provider's API key: stage, verify, promote, re-write the targets that hold it.

    The new key is checked with GET <baseUrl>/models before it becomes current; the old key
    stays as previous (see `rollback`). Running it again with the same key, or with --resume,
    finishes a rotation that stopped half way. With --reload-gateway it then makes the gateway on
    this host pick up the new key; either way it says when the old key may be revoked.
    """
    from kimi_infra.commands.provider_stack import key_report, missing_key_hint, stack_provider, verify_url_for
    from kimi_infra.ops import rotate as steps
    from kimi_infra.ops.reload import check_reload_mode, next_step
    from kimi_infra.ops.reload import reload_gateway as reload

    # Every flag is checked before a key is read (or prompted for) and before anything is staged.
    check_key_source(key_file, key_stdin)
    if not (key_file or key_stdin or resume):
        raise click.UsageError("give the new key with --key-file PATH or --key-stdin (keys are never taken as "
                               "arguments), or --resume to finish an interrupted rotation")
    spec, base_url = stack_provider(project_dir, stack, provider)
    if reload_gateway:
        check_reload_mode(spec.keyMode, provider)
    from kimi_infra.errors import KimiInfraError
    from kimi_infra.fleet import DEFAULT_FLEET_TIMEOUT_S, check_fleet_wait

    if revoke_grace is not None and not wait_fleet:  # a grace that seems to be kept, but is not
        raise KimiInfraError("it only times the old key's revocation after --wait-fleet, which is not given",
                             where="--revoke-grace", fix="add --wait-fleet, or drop --revoke-grace")
    if fleet_timeout is not None and not wait_fleet:  # a rotation that seems to wait, but does not
        raise KimiInfraError("it only bounds --wait-fleet, which is not given", where="--fleet-timeout",
                             fix="add --wait-fleet, or drop --fleet-timeout")
    fleet_timeout = DEFAULT_FLEET_TIMEOUT_S if fleet_timeout is None else fleet_timeout
    if wait_fleet:
        check_fleet_wait(spec, fleet_timeout)
    verify_url = verify_url_for(provider, base_url, verify_base_url, skip_verify)
    key = read_key(key_file, key_stdin, provider, new=True)
    with missing_key_hint(stack, provider):
        if key is None:
            steps.resume(spec, project_dir, provider, verify_url=verify_url, verify_timeout=verify_timeout, say=say)
        else:
            steps.rotate(spec, project_dir, provider, key, verify_url=verify_url, verify_timeout=verify_timeout,
                         say=say)
    if reload_gateway:
        reload(openclaw, f"{stack}/{provider}", say)
    elif not wait_fleet:
        say(f"{stack}/{provider}: {next_step(spec.keyMode, provider)}")
    if wait_fleet:
        from kimi_infra.fleet import REVOKE_GRACE_S, wait_for_rotation

        wait_for_rotation(spec, project_dir, provider, timeout=fleet_timeout, say=say,
                          grace=REVOKE_GRACE_S if revoke_grace is None else revoke_grace)
    say(f"{stack}/{provider}: done")
    if as_json:
        click.echo(json.dumps(key_report(spec, project_dir, provider), indent=2))
