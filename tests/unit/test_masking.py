"""`key_values`: the keys `mask_keys` hides, decoded for an in-memory comparison (issue 20, finding 3)."""

from __future__ import annotations

from kimi_infra.masking import key_values, mask_keys
from kimi_infra.secret import Secret


def test_key_values_are_exactly_what_mask_keys_hides_decoded():
    text = ('env: { vars: { MOONSHOT_API_KEY: "sk-1", "KIMICODE_API_KEY": "sk-\\"2" } },\n'
            'apiKey: "sk-3",\napiKey: "${MOONSHOT_API_KEY}",\n')
    assert sorted(value.reveal() for value in key_values(text) if value) == ["sk-\"2", "sk-1", "sk-3"]
    assert mask_keys(text).count('"<masked>"') == len(key_values(text))
    assert key_values('apiKey: "${MOONSHOT_API_KEY}"') == []


def test_a_literal_json_cannot_decode_equals_no_key():
    assert key_values('apiKey: "sk-\\x41"') == [None]
    assert Secret("sk-A") not in key_values('apiKey: "sk-\\x41"')
