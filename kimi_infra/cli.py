"""`kimi-infra` (also `python -m kimi_infra`): render, validate, and operate the OpenClaw config of each stack.

Each command lives in its own module under `kimi_infra.commands`, imported only when it runs, so
`render` never loads boto3 or pulumi.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import click

from kimi_infra import __version__
from kimi_infra.errors import KimiInfraError

# The one table of commands: name -> "module:attribute", loaded on demand.
COMMANDS = {
    "agent": "kimi_infra.commands.agent:agent",
    "catalog-check": "kimi_infra.commands.catalog_check:catalog_check",
    "deploy": "kimi_infra.commands.deploy:deploy",
    "doctor": "kimi_infra.commands.doctor:doctor",
    "fleet": "kimi_infra.commands.fleet:fleet",
    "history": "kimi_infra.commands.history:history",
    "iam-policy": "kimi_infra.commands.iam_policy:iam_policy",
    "install-resolver": "kimi_infra.commands.install_resolver:install_resolver",
    "promote": "kimi_infra.commands.promote:promote",
    "render": "kimi_infra.commands.render:render",
    "rollback": "kimi_infra.commands.rollback:rollback",
    "rotate": "kimi_infra.commands.rotate:rotate",
    "set-key": "kimi_infra.commands.set_key:set_key",
    "status": "kimi_infra.commands.status:status",
    "validate": "kimi_infra.commands.validate:validate",
}

# How `kimi-infra --help` groups them: what a person comes to do.
SECTIONS = {
    "Deploy and keys": ("deploy", "set-key", "rotate", "rollback", "promote"),
    "Operate": ("render", "history", "install-resolver", "iam-policy"),
    "Inspect": ("status", "doctor", "validate", "catalog-check"),
    "Gateway hosts": ("agent", "fleet"),
}


class _Cli(click.Group):
    """Loads command modules lazily; the one place that turns our errors into one line on stderr
    and the error's exit code (1 unless the command says otherwise; click keeps 2 for usage errors)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The commands in SECTIONS order, each with the first line of its help."""
        for title, names in SECTIONS.items():
            rows = []
            for name in names:
                command = self.get_command(ctx, name)
                if command is not None:
                    rows.append((name, command.get_short_help_str(limit=formatter.width - 6 - len(name))))
            with formatter.section(title):
                formatter.write_dl(rows)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attribute = COMMANDS[name].split(":")
        return getattr(importlib.import_module(module), attribute)

    def invoke(self, ctx: click.Context):
        from kimi_infra.aws import reusing_clients

        try:
            with reusing_clients():  # one AWS client per service and region for the whole command
                return super().invoke(ctx)
        except KimiInfraError as error:
            _report(ctx, error)
            ctx.exit(error.exit_code)


# Commands whose --json document already carries their errors (status: always one document).
OWN_JSON_ERRORS = frozenset({"status"})


def _report(ctx: click.Context, error: KimiInfraError) -> None:
    """One line on stderr; with --json also one JSON document on stdout (unless the command
    already printed its own report: an error without a problem text, or OWN_JSON_ERRORS)."""
    from kimi_infra.commands.options import JSON_FLAG

    if not str(error):
        return
    click.echo(f"error: {error}", err=True)
    if ctx.meta.get(JSON_FLAG) and ctx.invoked_subcommand not in OWN_JSON_ERRORS:
        import json

        problem = {"where": error.where, "problem": error.problem, "fix": error.fix}
        click.echo(json.dumps({"error": problem, "exitCode": error.exit_code}, indent=2))


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--project-dir", type=click.Path(file_okay=False, path_type=Path), envvar="KIMI_INFRA_PROJECT_DIR",
              help="Folder with Pulumi.yaml and stacks/ (default: found above the working folder).")
@click.version_option(__version__, "--version", prog_name="kimi-infra", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context, project_dir: Path | None) -> None:
    """kimi-infra: OpenClaw model-provider config for Moonshot AI (Kimi), per stack.

    Stacks live in stacks/Pulumi.<stack>.yaml (dev, staging, prod, prod-cn). Keys are never
    taken from arguments and never printed.
    """
    from kimi_infra.stackfile import find_project_dir

    ctx.obj = find_project_dir(project_dir)  # every command receives it through click.pass_obj


def main() -> None:
    """Entry point for the `kimi-infra` command and `python -m kimi_infra`.

    NO_COLOR (https://no-color.org), when set and not empty, turns colour off even on a terminal.
    """
    cli(prog_name="kimi-infra", color=False if os.environ.get("NO_COLOR") else None)
