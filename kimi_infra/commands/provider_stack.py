"""The stack and provider a key command (`set-key`, `rotate`, `rollback`, `catalog-check`) works on,
and what those commands share: where a key is verified, the missing-key hint, the key report."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from kimi_infra.models import StackSpec


def stack_provider(project_dir: Path, stack: str, provider: str) -> tuple[StackSpec, str]:
    """The stack's spec and the provider's base URL (kimi-infra:baseUrls, else the catalog's for the
    stack's region); the provider must be enabled."""
    from kimi_infra.assemble import check_stack
    from kimi_infra.base_urls import base_url
    from kimi_infra.catalog import PROVIDERS
    from kimi_infra.errors import SpecError, in_file
    from kimi_infra.stackfile import load_stack

    info = PROVIDERS.get(provider)
    if info is None:
        raise click.BadParameter(f"{provider!r} is not a provider; use one of {', '.join(PROVIDERS)}",
                                 param_hint="'--provider'")
    loaded = load_stack(project_dir, stack)
    with in_file(loaded.source):
        check_stack(loaded.spec)  # e.g. a provider without an endpoint in the stack's region
    if provider not in loaded.spec.providers:
        raise SpecError("kimi-infra:providers", f"{provider} is not enabled in stack {stack}",
                        f"use one of {', '.join(loaded.spec.providers)}", file=loaded.source)
    return loaded.spec, base_url(loaded.spec, info)


def verify_url_for(provider: str, catalog_url: str, given: str | None, skip: bool) -> str | None:
    """Where a key is verified (None with --skip-verify); a URL a key must not go to is refused now,
    before any key is read or anything is written."""
    from kimi_infra.ops.verify import check_base_url

    if skip:
        return None
    url = given or catalog_url
    check_base_url(provider, url)
    return url


@contextmanager
def missing_key_hint(stack: str, provider: str) -> Iterator[None]:
    """A provider without a key in the store gets the fix that stores the first one (`set-key`)."""
    from kimi_infra.errors import KimiInfraError
    from kimi_infra.key_rules import set_key_hint
    from kimi_infra.stores import SecretNotFoundError

    try:
        yield
    except SecretNotFoundError as error:
        raise KimiInfraError(error.problem, where=error.where, fix=set_key_hint(stack, provider),
                             exit_code=error.exit_code) from None


def key_report(spec: StackSpec, project_dir: Path, provider: str) -> dict[str, Any]:
    """The provider's key as `--json` reports it after a change: versions and age, never the key."""
    from datetime import UTC, datetime

    from kimi_infra.ops.status import key_status

    status = key_status(spec, provider, project_dir, datetime.now(UTC), lambda _line: None)
    return {"stack": spec.stack, **status.to_json()}
