"""The stack and provider a key command (`rotate`, `rollback`, `catalog-check`) works on."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from kimi_infra.models import StackSpec


def stack_provider(project_dir: Path, stack: str, provider: str) -> tuple[StackSpec, str]:
    """The stack's spec and the provider's catalog base URL for its region; the provider must be enabled."""
    from kimi_infra.assemble import check_stack
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
    return loaded.spec, info.base_urls[loaded.spec.region]
