"""What a key looks like in a rendered config, and how it is hidden: the one definition that
diffs, redeploys and content hashes share. Pure: no pydantic, boto3 or pulumi."""

from __future__ import annotations

import json
import re

from kimi_infra.secret import Secret

MASKED_KEY = Secret("<masked>")
"""What stands in for every key in a masked render or diff."""

# A key in the env block (`MOONSHOT_API_KEY: "..."`, quoted or bare name) or a literal apiKey that
# is not a `${VAR}` reference: the value is replaced before any text is shown.
_ENV_KEY = re.compile(r'("?[A-Z][A-Z0-9_]*_API_KEY"?\s*:\s*)("(?:[^"\\]|\\.)*")')
_API_KEY = re.compile(r'("?apiKey"?\s*:\s*)("(?!\$\{)(?:[^"\\]|\\.)*")')


def mask_keys(text: str) -> str:
    """`text` with every key value replaced by MASKED_KEY."""
    masked = f'\\1"{MASKED_KEY.reveal()}"'
    return _API_KEY.sub(masked, _ENV_KEY.sub(masked, text))


def key_values(text: str) -> list[Secret | None]:
    """Every key value `mask_keys` would hide, decoded (None for a literal that is not a JSON
    string, so it equals no key). For comparing with known keys in memory, never for showing."""
    literals = [match.group(2) for pattern in (_ENV_KEY, _API_KEY) for match in pattern.finditer(text)]
    return [_decoded(literal) for literal in literals]


def _decoded(literal: str) -> Secret | None:
    try:
        value = json.loads(literal)
    except ValueError:
        return None
    return Secret(value) if isinstance(value, str) else None


def holds_key(text: str) -> bool:
    """Whether `text` holds a key value (not only `${VAR}` references)."""
    return mask_keys(text) != text
