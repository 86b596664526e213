"""Promote the environment-independent config of one stack into another stack's file.

Promoted: providers, primary model, model overrides, extra models, aliases. Kept: the target's
region, base URLs (`baseUrls`, `allowCrossRegionBaseUrl`: a proxy belongs to one environment), secret
store, targets, key mode, resolver and every `secure:` value.

The target file is edited as text: only the lines of a promoted key that changes are replaced
(ruamel.yaml dumps the new value in the file's block style), so comments, key order and
ciphertext elsewhere stay byte-identical.
"""

from __future__ import annotations

import difflib
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kimi_infra.catalog import PROVIDERS
from kimi_infra.errors import KimiInfraError, in_file
from kimi_infra.render import Rendered, render_masked
from kimi_infra.stackfile import (
    NAMESPACE,
    load_stack,
    parse_yaml,
    spec_from_config,
    split_namespace,
)

PROMOTED_FIELDS = ("providers", "primaryModel", "modelOverrides", "extraModels", "aliases")


@dataclass(frozen=True)
class Promotion:
    """A planned promotion: the new stack file text and what it changes."""

    source: str
    target: str
    path: Path
    old_text: str
    new_text: str
    changed_fields: tuple[str, ...]
    rendered_before: Rendered
    rendered_after: Rendered

    def rendered_diff(self) -> str:
        """Unified diff of the target's rendered config (keys masked)."""
        name = f"{self.target}/openclaw.json5"
        return "".join(difflib.unified_diff(
            self.rendered_before.text.splitlines(keepends=True), self.rendered_after.text.splitlines(keepends=True),
            fromfile=f"{name} (before)", tofile=f"{name} (after)"))


def plan_promotion(project_dir: Path, source: str, target: str) -> Promotion:
    """Compute the promotion; raises KimiInfraError (file untouched) if the result is invalid."""
    if source == target:
        raise KimiInfraError(f"--from and --to are both {source!r}", where="promote", fix="name two different stacks")
    source_stack = load_stack(project_dir, source)  # both validated first, with their own clear errors
    target_stack = load_stack(project_dir, target)
    path, where = target_stack.path, target_stack.source
    wanted = promotable_values(source_stack.values, target_stack.spec.region)
    changed = tuple(f for f in PROMOTED_FIELDS if wanted.get(f) != target_stack.values.get(f))
    old_text = path.read_text(encoding="utf-8")
    new_text = old_text
    for field in changed:
        new_text = _replace_config_key(new_text, f"{NAMESPACE}:{field}", wanted.get(field), where)
    try:
        with in_file(where):
            rendered_after = render_masked(spec_from_config(split_namespace(parse_yaml(new_text)), target))
    except KimiInfraError as error:
        problem = f"{error.where}: {error.problem}" if error.where else error.problem
        raise KimiInfraError(problem, where=f"promote {source} -> {target} refused, {where} unchanged",
                             fix=error.fix) from None
    with in_file(where):
        rendered_before = render_masked(target_stack.spec)
    return Promotion(source, target, path, old_text, new_text, changed, rendered_before, rendered_after)


def promotable_values(values: dict[str, Any], region: str) -> dict[str, Any]:
    """The source's promoted fields, minus providers the target's region has no endpoint for.

    A provider that cannot exist in the target (kimi-code in a cn stack) takes its models,
    overrides and aliases with it; a primary model of such a provider is still promoted, and
    then refused by validation with a clear message.
    """
    providers = [p for p in values.get("providers", []) if region in PROVIDERS[p].base_urls]
    kept = set(providers)

    def by_ref(mapping: dict | None) -> dict | None:
        kept_refs = {ref: v for ref, v in (mapping or {}).items() if ref.split("/", 1)[0] in kept}
        return kept_refs or None

    extra = {p: models for p, models in (values.get("extraModels") or {}).items() if p in kept}
    result = {
        "providers": providers,
        "primaryModel": values.get("primaryModel"),
        "modelOverrides": by_ref(values.get("modelOverrides")),
        "extraModels": extra or None,
        "aliases": by_ref(values.get("aliases")),
    }
    return {key: value for key, value in result.items() if value is not None}


def apply_promotion(promotion: Promotion) -> None:
    """Write the new stack file atomically, keeping the file's mode."""
    from kimi_infra.atomic import write_atomic

    mode = promotion.path.stat().st_mode & 0o777
    write_atomic(promotion.path, promotion.new_text.encode("utf-8"), mode)


# --- text surgery on `config:` entries ---------------------------------------------------------

_CONFIG_KEY = re.compile(r"^  (?P<key>[^\s#][^:]*:[^:\s]+):")  # `  ns:key:` at the config indent


def _replace_config_key(text: str, key: str, value: Any, source: str) -> str:
    """Replace (or insert, or remove when value is None) one `config:` entry, touching no other line."""
    lines = text.splitlines(keepends=True)
    spans = _config_spans(lines, source)
    snippet = [] if value is None else _dump_entry(key, value)
    if key in spans:
        start, end = spans[key]
        return "".join(lines[:start] + snippet + lines[end:])
    if not snippet:
        return text
    return "".join(_insert(lines, spans, key, snippet))


def _insert(lines: list[str], spans: dict[str, tuple[int, int]], key: str, snippet: list[str]) -> list[str]:
    """New entries go after the promoted field that precedes them, else after the last entry."""
    order = [f"{NAMESPACE}:{f}" for f in PROMOTED_FIELDS]
    earlier = [k for k in order[: order.index(key)] if k in spans]
    at = spans[earlier[-1]][1] if earlier else max(end for _, end in spans.values())
    if lines and at == len(lines) and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    return lines[:at] + snippet + lines[at:]


def _config_spans(lines: list[str], source: str) -> dict[str, tuple[int, int]]:
    """Line ranges [start, end) of each `config:` entry, excluding comments that lead the next one."""
    try:
        first = next(i for i, line in enumerate(lines) if line.rstrip() == "config:") + 1
    except StopIteration:
        raise KimiInfraError("promote needs a block-style `config:` section", where=f"{source}: config") from None
    starts: list[tuple[str, int]] = []
    end_of_config = len(lines)
    for index in range(first, len(lines)):
        line = lines[index]
        if line.strip() and not line.startswith((" ", "#")):
            end_of_config = index
            break
        match = _CONFIG_KEY.match(line)
        if match:
            starts.append((match.group("key"), index))
    spans: dict[str, tuple[int, int]] = {}
    for position, (key, start) in enumerate(starts):
        end = starts[position + 1][1] if position + 1 < len(starts) else end_of_config
        while end > start + 1 and _is_comment_or_blank(lines[end - 1]):
            end -= 1
        spans[key] = (start, end)
    return spans


def _is_comment_or_blank(line: str) -> bool:
    return not line.strip() or line.lstrip().startswith("#")


def _dump_entry(key: str, value: Any) -> list[str]:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    buffer = io.StringIO()
    yaml.dump({key: value}, buffer)
    return ["  " + line if line.strip() else line for line in buffer.getvalue().splitlines(keepends=True)]
