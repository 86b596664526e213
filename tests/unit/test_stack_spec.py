"""StackSpec answers what its key mode means, so callers do not re-derive it from keyMode."""

from __future__ import annotations

import pytest

from kimi_infra.models import StackSpec


@pytest.mark.parametrize(("mode", "hold", "fetch", "reference"), [
    ("reference", False, False, True),
    ("inline", True, False, False),
    ("secretref", False, True, False),
])
def test_key_mode_questions(mode, hold, fetch, reference):
    spec = StackSpec(stack="t", providers=["moonshot"], keyMode=mode, targets=[{"kind": "file", "path": "x"}])
    assert (spec.files_hold_keys, spec.gateway_fetches_keys, spec.files_reference_env) == (hold, fetch, reference)
