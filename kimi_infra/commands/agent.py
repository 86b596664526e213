"""`agent`: run on a gateway host; keep the gateway's included config and keys current, and report."""

from __future__ import annotations

from pathlib import Path

import click

from kimi_infra.commands.options import profile_option, say, stack_option


@click.command()
@stack_option
@click.option("--target", "-t", "target", required=True, metavar="NAME",
              help="The stack's s3 or ssm target to take the config from (its name in the stack file).")
@click.option("--include", "include", required=True, type=click.Path(path_type=Path),
              metavar="PATH", help="The file the gateway's openclaw.json `$include`s (not openclaw.json itself), "
              "under that config's folder or OPENCLAW_INCLUDE_ROOTS, in a folder that exists and this user may "
              "write; replaced atomically, 0600 when it holds keys, else 0644.")
@click.option("--gateway-id", metavar="ID", help="This gateway's name in reports and in `iam-policy --gateway-id` "
              "(letters, digits, `_.-`; default: the short host name).")
@click.option("--interval", type=float, default=30.0, show_default=True, metavar="SECONDS",
              help="Seconds between polls, from 1 to the stack's heartbeatSeconds (an unchanged poll is one "
              "small request).")
@click.option("--once", is_flag=True, help="Poll once, report, and exit (cron, tests): 0 when the gateway runs what "
              "the stack publishes, 1 when not.")
@click.option("--openclaw", metavar="PATH", help="The gateway's `openclaw` command. Given: each new config must "
              "also pass its `config validate`. In secretref mode it runs `openclaw secrets reload` after a key "
              "rotation (default: `openclaw` on PATH).")
@profile_option
@click.pass_obj
def agent(project_dir: Path, stack: str, target: str, include: Path, gateway_id: str | None, interval: float,
          once: bool, openclaw: str | None) -> None:
    """Keep this gateway host's config and keys current from the stack's S3/SSM target, and report.

    The host needs the project's Pulumi.yaml and stack file (--project-dir or KIMI_INFRA_PROJECT_DIR;
    not the Pulumi state), `kimi-infra:fleet` in that stack file, and AWS credentials that
    `kimi-infra iam-policy --stack S --for agent` allows. README, "Fleet", has the steps and a
    systemd unit.

    Each poll asks AWS for the stack's small facts object (one conditional request: no config is
    downloaded and no key is read when nothing changed). A new config is checked (our model, this
    stack, the hash `deploy` published, and `openclaw config validate` with --openclaw) and written
    to the --include file, which the gateway applies by itself; a refused one is reported and the
    last good one stays. In secretref mode a new key version runs `openclaw secrets reload`
    (warnings count as failure: retried with backoff).

    After every change and each heartbeat it writes its report (gateway id, host, revision, key
    versions, last error; never a key) next to the target: s3://B/K.fleet/reports/<gateway-id>.json
    or the parameter /P.fleet-reports/<gateway-id>. `kimi-infra fleet` reads them.

    It runs until SIGTERM or Ctrl-C (exit 0), one line per event on stderr. Bad input (stack,
    target, include path, options) is one line and exit 2 before anything is written; with --once,
    exit 0 when the gateway runs what the stack publishes, 1 when not (a refused config, a failed
    reload, AWS unreachable: the line and the report say which).
    """
    import signal
    import threading

    from kimi_infra.errors import KimiInfraError
    from kimi_infra.ops.agent import check_settings, run

    settings = check_settings(project_dir, stack, target, include, gateway_id, interval, openclaw)
    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())
    code = run(settings, say, stop, once=once)
    if code:
        raise KimiInfraError.exit(code)
