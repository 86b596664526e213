"""`catalog-check`: the provider's live model ids vs our catalog (exit 1 on a difference, 2 on an error)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from kimi_infra.commands.options import json_option, plural, profile_option, provider_option, stack_option
from kimi_infra.errors import EXIT_FINDING, KimiInfraError


@click.command("catalog-check")
@stack_option
@provider_option
@click.option("--base-url", "--verify-base-url", "base_url", metavar="URL",
              help="Ask URL/models instead of the stack region's endpoint from the catalog.")
@json_option
@profile_option
@click.pass_obj
def catalog_check(project_dir: Path, stack: str, provider: str, base_url: str | None, as_json: bool) -> None:
    """Compare the provider's live model ids with the ones this stack renders.

    Exit 0: they match; 1: they differ; 2: the check failed (e.g. the provider answered 401).
    Uses the provider's current key from the stack's secret store.
    """
    from kimi_infra.commands.provider_stack import missing_key_hint, stack_provider, verify_url_for
    from kimi_infra.ops.catalog_check import check_catalog

    spec, catalog_url = stack_provider(project_dir, stack, provider)
    url = verify_url_for(provider, catalog_url, base_url, skip=False)
    assert url is not None
    with missing_key_hint(stack, provider):
        result = check_catalog(spec, project_dir, provider, url)
    if as_json:
        click.echo(json.dumps({"stack": stack, "provider": provider, "url": result.url,
                               "liveCount": result.live_count, "ours": list(result.ours),
                               "new": list(result.diff.new), "missing": list(result.diff.missing),
                               "equal": result.diff.equal}, indent=2))
    else:
        click.echo(f"{provider} at {result.url}: {plural(result.live_count, 'live model')}, "
                   f"{len(result.ours)} in our catalog")
        if result.diff.new:
            click.echo(f"new (live, not in our catalog): {', '.join(result.diff.new)}")
        if result.diff.missing:
            click.echo(f"missing (in our catalog, not live): {', '.join(result.diff.missing)}")
        if result.diff.equal:
            click.echo("the catalog matches")
    if not result.diff.equal:
        raise KimiInfraError.exit(EXIT_FINDING)  # the difference is the report above
