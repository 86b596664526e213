"""catalog-check: the provider's live model ids against the ones a stack renders."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kimi_infra.errors import KimiInfraError, in_file
from kimi_infra.models import StackSpec
from kimi_infra.ops.verify import CatalogDiff, compare_ids, get_models
from kimi_infra.paths import stack_file


@dataclass(frozen=True)
class CatalogCheck:
    """Where the live ids came from, how many there are, ours, and the difference."""

    url: str
    live_count: int
    ours: list[str]
    diff: CatalogDiff


def check_catalog(spec: StackSpec, project_dir: Path, provider: str, base_url: str) -> CatalogCheck:
    """Ask `base_url`/models with the provider's current key and compare with our rendered ids."""
    from kimi_infra.assemble import check_stack
    from kimi_infra.key_rules import set_key_hint
    from kimi_infra.stores import open_store

    store = open_store(spec, provider, project_dir)
    key = store.get("current")
    if key is None:
        raise KimiInfraError("no current key", where=store.name,
                             fix=set_key_hint(spec.stack, provider))
    answer = get_models(provider, base_url, key)
    live = answer.model_ids()
    with in_file(stack_file(spec.stack)):
        ours = [m.definition.id for m in check_stack(spec) if m.provider == provider]
    return CatalogCheck(answer.url, len(set(live)), ours, compare_ids(live, ours))
