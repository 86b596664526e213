"""`pulumi preview` creates nothing, as `deploy --preview` (issue 20, finding 9 / Build 7): no key
store before the first `up`, and no salt for a stack whose store has none (one deployed before
salts existed): the provider's diff hashes with a one-off salt then."""

from __future__ import annotations

import json

import pytest

from tests.engine.test_drift import write_stack
from tests.support.project import CANARY_KEY, dev_like
from tests.support.pulumi_engine import KIMICODE_CANARY, PulumiCli

pytestmark = pytest.mark.engine


def test_preview_makes_no_store_and_no_salt(pulumi: PulumiCli):
    write_stack(pulumi.project, "inl", dev_like(keyMode="inline"))
    pulumi.select_stack("inl")
    pulumi.set_keys(CANARY_KEY, KIMICODE_CANARY)
    state = pulumi.project / ".kimi-infra" / "inl"
    store = state / "secrets.json"

    pulumi.run("preview")
    assert not store.exists() and not (pulumi.project / "out").exists()

    pulumi.up()
    document = json.loads(store.read_text())
    del document["salt"]  # as a store written before salts existed
    store.write_text(json.dumps(document))
    pulumi.run("preview")  # the diff of the deployed target reads it, hashed alike, with a one-off salt
    assert sorted(json.loads(store.read_text())) == ["format", "secrets"]  # names only: no key in a failure
