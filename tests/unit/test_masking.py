"""kimi_infra.masking: the fast key checks agree with the plain definitions they replace, and
`key_values` gives exactly what `mask_keys` hides (issue 20, finding 3).

`holds_key` runs on every content hash (every render), so it no longer builds the masked copy and
scans with literal-prefix patterns; these properties pin it to what it means: "masking changes it".
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from kimi_infra.masking import holds_key, key_values, mask_keys
from kimi_infra.secret import Secret

# The definitions as first written: every pattern tried at every character.
FULL_SCAN_ENV_KEY = re.compile(r'''(["']?[A-Z][A-Z0-9_]*_API_KEY["']?\s*:\s*)(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')''',
                               re.IGNORECASE)
FULL_SCAN_API_KEY = re.compile(
    r'''(["']?apiKey["']?\s*:\s*)(?:"(?!\$\{\w+\}")(?:[^"\\]|\\.)*"|'(?!\$\{\w+\}')(?:[^'\\]|\\.)*')''')

# Pieces that make near-misses likely: quotes, escapes, references, masked values, key names.
FRAGMENTS = ['"', "'", "\\", ":", " ", "\n", "apiKey", "MOONSHOT_API_KEY", "_API_KEY", "X", "${", "}", "<masked>",
             '"<masked>"', "sk-1", ",", "{", "vars", "moonshot_api_key", "${X}"]
texts = st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join)


def full_scan_mask(text: str) -> str:
    masked = '\\1"<masked>"'
    return FULL_SCAN_API_KEY.sub(masked, FULL_SCAN_ENV_KEY.sub(masked, text))


@settings(max_examples=1000, deadline=None)
@given(texts)
def test_holds_key_is_whether_masking_changes_the_text(text):
    assert holds_key(text) == (full_scan_mask(text) != text)
    assert mask_keys(text) == full_scan_mask(text)


def test_a_masked_key_is_no_key_and_a_reference_is_none_either():
    assert not holds_key('env: { vars: { MOONSHOT_API_KEY: "<masked>" } }\napiKey: "${MOONSHOT_API_KEY}"')
    assert holds_key('apiKey: "${MOONSHOT_API_KEY}", "apiKey": "sk-live"')
    assert holds_key('env: { vars: { "MOONSHOT_API_KEY" : "sk-live" } }')


def test_key_values_are_exactly_what_mask_keys_hides_decoded():
    text = ('env: { vars: { MOONSHOT_API_KEY: "sk-1", "KIMICODE_API_KEY": "sk-\\"2" } },\n'
            'apiKey: "sk-3",\napiKey: "${MOONSHOT_API_KEY}",\n')
    assert sorted(value.reveal() for value in key_values(text) if value) == ["sk-\"2", "sk-1", "sk-3"]
    assert mask_keys(text).count('"<masked>"') == len(key_values(text))
    assert key_values('apiKey: "${MOONSHOT_API_KEY}"') == []


def test_a_literal_json_cannot_decode_equals_no_key():
    assert key_values('apiKey: "sk-\\x41"') == [None]
    assert Secret("sk-A") not in key_values('apiKey: "sk-\\x41"')


def test_json5_single_quotes_and_a_reference_with_more_after_it_are_keys_too():
    """JSON5 takes single quotes: a hand-edited target with them must not show its key in a diff."""
    for text in ["apiKey: 'sk-live'", "'apiKey': \"sk-live\"", 'apiKey: "${X}sk-live"',
                 "env: { vars: { MOONSHOT_API_KEY: 'sk-live' } }", 'env: { vars: { moonshot_api_key: "sk-live" } }']:
        assert holds_key(text) and "sk-live" not in mask_keys(text), text
    assert not holds_key("apiKey: '${MOONSHOT_API_KEY}'")
