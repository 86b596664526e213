"""What a key looks like in a rendered config, and how it is hidden: the one definition that
diffs, redeploys and content hashes share. Pure: no pydantic, boto3 or pulumi."""

from __future__ import annotations

import re

from kimi_infra.secret import Secret

MASKED_KEY = Secret("<masked>")
"""What stands in for every key in a masked render or diff."""

# A key in the env block (`MOONSHOT_API_KEY: "..."`, quoted or bare name) or a literal apiKey that
# is not a `${VAR}` reference: the value is replaced before any text is shown.
_ENV_KEY = re.compile(r'''(["']?[A-Z][A-Z0-9_]*_API_KEY["']?\s*:\s*)("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')''',
                      re.IGNORECASE)
# It starts at `apiKey` (a quote before it is left in place): the literal prefix lets `re` jump from
# one `apiKey` to the next instead of trying the pattern at every character. Only a value that is
# exactly one `${VAR}` reference is left alone; JSON5 allows single quotes, so both kinds count.
_API_KEY = re.compile(r'''(apiKey["']?\s*:\s*)("(?!\$\{\w+\}")(?:[^"\\]|\\.)*"|'(?!\$\{\w+\}')(?:[^'\\]|\\.)*')''')
_ENV_KEY_HINT = re.compile(r'''_API_KEY["']?\s*:\s*["']''', re.IGNORECASE)  # _ENV_KEY after its `[A-Z]` scan
_MASKED_VALUE = f'"{MASKED_KEY.reveal()}"'


def mask_keys(text: str) -> str:
    """`text` with every key value replaced by MASKED_KEY."""
    masked = f'\\1{_MASKED_VALUE}'
    if _ENV_KEY_HINT.search(text):
        text = _ENV_KEY.sub(masked, text)
    return _API_KEY.sub(masked, text)


def key_values(text: str) -> list[Secret | None]:
    """Every key value `mask_keys` would hide, decoded (None for a literal that is not a JSON
    string, so it equals no key). For comparing with known keys in memory, never for showing."""
    literals = [match.group(2) for pattern in (_ENV_KEY, _API_KEY) for match in pattern.finditer(text)]
    return [_decoded(literal) for literal in literals]


def _decoded(literal: str) -> Secret | None:
    import json  # here: `render` hashes with this module at every start and never decodes a key

    try:
        value = json.loads(literal)
    except ValueError:
        return None
    return Secret(value) if isinstance(value, str) else None


def holds_key(text: str) -> bool:
    """Whether `text` holds a key value (not only `${VAR}` references): whether `mask_keys` would
    change it, found without building the masked copy (this runs on every content hash)."""
    # Every env-key match holds what _ENV_KEY_HINT finds: most configs skip the slow regex altogether.
    if _ENV_KEY_HINT.search(text) and _changes(_ENV_KEY, text):
        return True
    return _changes(_API_KEY, text)


def _changes(pattern: re.Pattern[str], text: str) -> bool:
    """Whether masking a match of `pattern` changes `text`: a value already masked stays the same."""
    return any(match.group(0)[match.end(1) - match.start():] != _MASKED_VALUE for match in pattern.finditer(text))
