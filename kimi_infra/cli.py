"""`kimi-infra` (also `python -m kimi_infra`): render, validate, and operate the OpenClaw config of each stack.

Commands import what they need inside their bodies, so `render` never loads boto3 or pulumi.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from kimi_infra import __version__
from kimi_infra.errors import KimiInfraError
from kimi_infra.options import stack_option

# Commands that live in their own modules, imported only when asked for (keeps `render` fast).
_LAZY_COMMANDS = {
    "catalog-check": "kimi_infra.ops.rotate_cli:catalog_check",
    "history": "kimi_infra.ops.status_cli:history",
    "iam-policy": "kimi_infra.ops.iam_policy:iam_policy",
    "install-resolver": "kimi_infra.ops.resolver_cli:install_resolver",
    "rollback": "kimi_infra.ops.rotate_cli:rollback",
    "rotate": "kimi_infra.ops.rotate_cli:rotate",
    "status": "kimi_infra.ops.status_cli:status",
}


class _Cli(click.Group):
    """Loads command modules lazily; turns our errors into one line on stderr and exit 1
    (click keeps 2 for usage errors)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *_LAZY_COMMANDS])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in _LAZY_COMMANDS:
            return super().get_command(ctx, name)
        import importlib

        module, attribute = _LAZY_COMMANDS[name].split(":")
        return getattr(importlib.import_module(module), attribute)

    def invoke(self, ctx: click.Context):
        from kimi_infra.aws import reusing_clients

        try:
            with reusing_clients():  # one AWS client per service and region for the whole command
                return super().invoke(ctx)
        except KimiInfraError as error:
            click.echo(f"error: {error}", err=True)
            ctx.exit(1)


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

    ctx.obj = find_project_dir(project_dir)




@cli.command()
@stack_option
@click.option("--out", "-o", default=None, metavar="PATH|-",
              help="Where to write; '-' for stdout. Default: build/<stack>/openclaw.json5 in the project.")
@click.pass_obj
def render(project_dir: Path, stack: str, out: str | None) -> None:
    """Render a stack's OpenClaw config (JSON5) offline.

    In inline key mode the keys are read from MOONSHOT_API_KEY / KIMICODE_API_KEY in the
    environment, and the file is written with mode 0600.
    """
    from kimi_infra.atomic import is_special_file, write_atomic
    from kimi_infra.paths import check_distinct_paths
    from kimi_infra.render import render_stack
    from kimi_infra.stackfile import display_path, load_stack

    loaded = load_stack(project_dir, stack)
    keys = keys_from_environment(loaded.spec, loaded.source) if loaded.spec.keyMode == "inline" else None
    rendered = render_stack(loaded.spec, loaded.source, keys)
    if out == "-":
        click.echo(rendered.text, nl=False)
        return
    path = Path(out) if out else project_dir / "build" / stack / "openclaw.json5"
    check_distinct_paths(project_dir, loaded.spec, loaded.source, out=path)
    if path.is_dir():
        raise KimiInfraError(f"--out {path}: is a folder; fix: give a file path, or - for stdout")
    try:
        if is_special_file(path):  # /dev/null, /dev/stdout, a FIFO: write into it, never rename over it
            path.write_text(rendered.text, encoding="utf-8")
            return
        write_atomic(path, rendered.text.encode("utf-8"), 0o600 if rendered.holds_secret else 0o644)
    except OSError as error:
        raise KimiInfraError(f"--out {path}: cannot write: {error.strerror}; fix: choose a writable path") from None
    click.echo(f"wrote {display_path(path)} ({len(rendered.text)} bytes, sha256 {rendered.sha256[:12]})")


def keys_from_environment(spec, source: str, *, required: bool = True):
    """Each enabled provider's key from its catalog env var, as a Secret (all required, or those set)."""
    from kimi_infra.assemble import enabled_providers
    from kimi_infra.secret import Secret

    keys = {}
    for info in enabled_providers(spec):
        value = os.environ.get(info.env_var, "").strip()
        if value:
            keys[info.name] = Secret(value)
        elif required:
            raise KimiInfraError(
                f"{source}: kimi-infra:keyMode: inline mode needs the {info.name} key in ${info.env_var}; "
                f"fix: export {info.env_var} in the environment (keys are never taken as arguments)"
            )
    if len(keys) > 1 and len(set(keys.values())) < len(keys):
        raise KimiInfraError(
            f"{source}: kimi-infra:keyMode: the same key is set for {' and '.join(keys)}; "
            "fix: give each provider its own key (Moonshot and Kimi Code keys are not interchangeable)"
        )
    return keys


@cli.command()
@stack_option
@click.pass_obj
def deploy(project_dir: Path, stack: str) -> None:
    """Write the stack's config to every target now, as `pulumi up` would, without the engine.

    A provider key found in MOONSHOT_API_KEY / KIMICODE_API_KEY is stored when the stack's
    secret store has none yet (an existing key is never overwritten: use `rotate`). Targets
    whose content is already deployed are not written.
    """
    from kimi_infra.deploy import deploy_all, preflight, seed_missing_keys
    from kimi_infra.stackfile import load_stack

    loaded = load_stack(project_dir, stack)
    keys = keys_from_environment(loaded.spec, loaded.source, required=False)
    preflight(loaded.spec, project_dir, keys)  # nothing is stored or written if a check fails
    for name in seed_missing_keys(loaded.spec, project_dir, keys):
        click.echo(f"stored a new key as {name}", err=True)
    outcomes = deploy_all(loaded.spec, project_dir,
                          progress=lambda location, outcome: click.echo(f"{location}: {outcome}", err=True))
    written = sum(1 for outcome in outcomes.values() if outcome == "written")
    click.echo(f"deployed stack {stack}: {written} written, {len(outcomes) - written} unchanged")


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
def validate(files: tuple[Path, ...]) -> None:
    """Check OpenClaw config files (JSON5) against our model; exit 1 if any fails."""
    from kimi_infra.validate import validate_file

    failed = 0
    for path in files:
        try:
            config = validate_file(path)
        except KimiInfraError as error:
            failed += 1
            click.echo(f"invalid: {error}", err=True)
            continue
        refs = len(config.agents.defaults.models)
        click.echo(f"ok: {path} ({len(config.models.providers)} providers, {refs} models)")
    if failed:
        sys.exit(1)


@cli.command()
@click.option("--from", "source", required=True, help="Stack to promote from (e.g. staging).")
@click.option("--to", "target", required=True, help="Stack whose file is updated (e.g. prod).")
@click.option("--dry-run", is_flag=True, help="Print the diff and write nothing.")
@click.option("--yes", "-y", is_flag=True, help="Apply without asking.")
@click.pass_obj
def promote(project_dir: Path, source: str, target: str, dry_run: bool, yes: bool) -> None:
    """Copy providers, primary model, overrides, extra models and aliases from one stack to another.

    The target keeps its region, secret store, targets, key mode and `secure:` values; its file
    keeps its comments and key order. Prints the diff of the target's rendered config (keys
    masked) and refuses a result that does not validate.
    """
    from kimi_infra.ops.promote import apply_promotion, plan_promotion

    plan = plan_promotion(project_dir, source, target)
    if not plan.changed_fields:
        click.echo(f"{target} already matches {source}: nothing to promote", err=True)
        return
    click.echo(f"promote {source} -> {target}: {', '.join(plan.changed_fields)} change in {plan.path.name}", err=True)
    click.echo(plan.rendered_diff() or "(the rendered config does not change)\n", nl=False)
    if dry_run:
        click.echo("dry run: nothing written", err=True)
        return
    if not yes and not click.confirm(f"Write {plan.path.name}?", err=True):
        raise KimiInfraError(f"promote: not confirmed, {plan.path.name} unchanged")
    apply_promotion(plan)
    click.echo(f"wrote {plan.path.name}; run `pulumi up -s {target}` to deploy it", err=True)


def main() -> None:
    """Entry point for the `kimi-infra` command and `python -m kimi_infra`."""
    cli(prog_name="kimi-infra")
