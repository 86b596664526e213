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
from kimi_infra.short_lived import settle_process

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
    and the error's exit code (2 unless the command says 1 for a finding; click keeps 2 for usage
    errors), and a crash (any other exception: a bug) into one line naming its type, exit 2."""

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

    def resolve_command(self, ctx: click.Context,
                        args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        ctx.meta[_ARGS] = list(args)  # the command's own words, for a usage error's --json document
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: click.Context):
        from kimi_infra.aws import reusing_clients

        try:
            with reusing_clients():  # one AWS client per service and region for the whole command
                return super().invoke(ctx)
        except KimiInfraError as error:
            _report(ctx, error)
            ctx.exit(error.exit_code)
        except click.exceptions.UsageError as error:
            _report_usage_error(ctx, error)
            raise  # click prints its usage line on stderr and exits 2
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise  # click's own: --help, a declined prompt
        except Exception as error:  # the one place a bug becomes one line, not a traceback
            if ctx.params.get("debug"):
                import traceback

                traceback.print_exc()
            crash = _crash(ctx, error)
            _report(ctx, crash, crashed=True)
            ctx.exit(crash.exit_code)


_ARGS = "kimi_infra.cli.args"


def _report_usage_error(ctx: click.Context, error: click.exceptions.UsageError) -> None:
    """With --json, a usage error (a missing or unknown option) is one JSON document on stdout too,
    like every other error; click still prints its usage line on stderr."""
    import json

    args = ctx.meta.get(_ARGS, [])
    if "--json" not in args[1:]:
        return
    command = " ".join(["kimi-infra", *args[:1]])
    problem = error.format_message()
    usage_error = KimiInfraError(problem, where=command, fix=f"see `{command} --help`")
    click.echo(json.dumps({"error": usage_error.to_json(), "exitCode": 2}, indent=2))


def _crash(ctx: click.Context, error: Exception) -> KimiInfraError:
    """An unexpected exception as one line: its type and where it was raised, never its text
    (which may quote a key or a file holding one)."""
    import traceback

    frames = traceback.extract_tb(error.__traceback__)
    place = f" at {_short(frames[-1].filename)}:{frames[-1].lineno}" if frames else ""
    command = " ".join(filter(None, ["kimi-infra", ctx.invoked_subcommand]))
    return KimiInfraError(f"crashed with {type(error).__name__}{place} (a bug in kimi-infra)", where=command,
                          fix="run again with --debug for the traceback and report it (check it for keys first)")


def _short(filename: str) -> str:
    """A source file relative to the folder holding `kimi_infra/` (the checkout), else as given."""
    code_dir = Path(__file__).resolve().parent.parent
    try:
        return str(Path(filename).resolve().relative_to(code_dir))
    except ValueError:
        return filename


# Commands whose --json document already carries their errors (status: always one document).
OWN_JSON_ERRORS = frozenset({"status"})


def _report(ctx: click.Context, error: KimiInfraError, crashed: bool = False) -> None:
    """One line on stderr; with --json also one JSON document on stdout (unless the command
    already printed its own report: an error without a problem text, or OWN_JSON_ERRORS unless
    it `crashed` before its report)."""
    from kimi_infra.commands.options import JSON_FLAG

    if not str(error):
        return
    click.echo(f"error: {error}", err=True)
    if ctx.meta.get(JSON_FLAG) and (crashed or ctx.invoked_subcommand not in OWN_JSON_ERRORS):
        import json

        click.echo(json.dumps({"error": error.to_json(), "exitCode": error.exit_code}, indent=2))


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--project-dir", type=click.Path(file_okay=False, path_type=Path), envvar="KIMI_INFRA_PROJECT_DIR",
              help="Folder with Pulumi.yaml and stacks/ (default: found above the working folder).")
@click.option("--debug", is_flag=True,
              help="On a crash (a bug: exit 2, one line naming the exception), also print its traceback, "
              "which may quote a key: check it before you share it.")
@click.version_option(__version__, "--version", prog_name="kimi-infra", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context, project_dir: Path | None, debug: bool) -> None:
    """kimi-infra: OpenClaw model-provider config for Moonshot AI (Kimi), per stack.

    Stacks live in stacks/Pulumi.<stack>.yaml (dev, staging, prod, prod-cn). Keys are never
    taken from arguments and never printed.

    Exit codes: 0 done; 1 a finding (a difference, drift, an invalid file); 2 an error, with
    one line saying where, what and the fix (a crash too: it names the exception's type; its
    traceback only with --debug).
    """
    from kimi_infra.stackfile import find_project_dir

    ctx.obj = find_project_dir(project_dir)  # every command receives it through click.pass_obj


def main() -> None:
    """Entry point for the `kimi-infra` command and `python -m kimi_infra`.

    NO_COLOR (https://no-color.org), when set and not empty, turns colour off even on a terminal.
    """
    settle_process()
    cli(prog_name="kimi-infra", color=False if os.environ.get("NO_COLOR") else None)
