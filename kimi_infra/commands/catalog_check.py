"""`catalog-check`: the provider's live model ids vs our catalog (exit 1 on a difference)."""

from __future__ import annotations

from pathlib import Path

import click

from kimi_infra.commands.options import provider_option, stack_option
from kimi_infra.errors import KimiInfraError


@click.command("catalog-check")
@stack_option
@provider_option
@click.option("--base-url", "--verify-base-url", "base_url", metavar="URL",
              help="Ask URL/models instead of the stack region's endpoint from the catalog.")
@click.pass_obj
def catalog_check(project_dir: Path, stack: str, provider: str, base_url: str | None) -> None:
    """Compare the provider's live model ids with the ones this stack renders; exit 1 if they differ.

    Uses the provider's current key from the stack's secret store.
    """
    from kimi_infra.commands.provider_stack import stack_provider
    from kimi_infra.ops.catalog_check import check_catalog

    spec, catalog_url = stack_provider(project_dir, stack, provider)
    result = check_catalog(spec, project_dir, provider, base_url or catalog_url)
    click.echo(f"{provider} at {result.url}: {result.live_count} live models, {len(result.ours)} in our catalog")
    if result.diff.new:
        click.echo(f"new (live, not in our catalog): {', '.join(result.diff.new)}")
    if result.diff.missing:
        click.echo(f"missing (in our catalog, not live): {', '.join(result.diff.missing)}")
    if not result.diff.equal:
        raise KimiInfraError.exit(1)  # the difference is the report above
    click.echo("the catalog matches")
