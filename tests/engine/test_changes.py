"""A changed override previews as target updates only; `pulumi destroy` removes every target's config and
keeps the keys, which the next `up` adopts."""

from __future__ import annotations

import boto3
import pytest

from tests.support.deployed import current_key, deployed_text, rendered_by_cli, stack_spec
from tests.support.project import CANARY_KEY
from tests.support.pulumi_engine import KIMICODE_CANARY, PulumiCli

pytestmark = pytest.mark.engine

OVERRIDE = """  kimi-infra:modelOverrides:
    moonshot/kimi-k2-thinking:
      contextWindow: 128000
"""


def test_a_changed_override_updates_only_the_targets(pulumi: PulumiCli, stack_buckets):
    pulumi.select_stack("prod")
    pulumi.set_keys(CANARY_KEY, KIMICODE_CANARY)
    pulumi.up()
    stack_file = pulumi.project / "stacks" / "Pulumi.prod.yaml"
    stack_file.write_text(stack_file.read_text().replace("config:\n", "config:\n" + OVERRIDE, 1))

    diff = pulumi.run("preview", "--diff").stdout
    assert "contextWindow" in diff
    changed = [s for s in pulumi.preview_steps() if s["op"] != "same"]
    assert sorted((s["op"], s["urn"].rsplit("::", 1)[-1]) for s in changed) == [
        ("update", "openclaw-config-config-bucket"), ("update", "openclaw-config-config-parameter")]

    pulumi.up()
    spec = stack_spec(pulumi.project, "prod")
    rendered = rendered_by_cli(pulumi.project, "prod")
    assert "contextWindow: 128000" in rendered
    for target in spec.targets:
        assert deployed_text(pulumi.project, spec, target) == rendered


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_destroy_removes_every_config_and_keeps_the_keys(pulumi: PulumiCli, stack_buckets, stack: str):
    pulumi.select_stack(stack)
    pulumi.set_keys(CANARY_KEY, KIMICODE_CANARY)
    pulumi.up()
    spec = stack_spec(pulumi.project, stack)
    versions = pulumi.outputs()["secretVersionIds"]

    pulumi.run("destroy", "--yes")
    for target in spec.targets:
        assert deployed_text(pulumi.project, spec, target) is None, target.name
    assert current_key(pulumi.project, spec, "moonshot") == CANARY_KEY  # retained, not deleted
    if stack == "prod":
        secret = boto3.client("secretsmanager").describe_secret(SecretId=f"kimi-infra/{stack}/moonshot")
        assert "DeletedDate" not in secret

    pulumi.up()  # the documented way back: the next up adopts the kept keys, writing no new version
    assert pulumi.outputs()["secretVersionIds"] == versions
    rendered = rendered_by_cli(pulumi.project, stack)
    for target in spec.targets:
        assert deployed_text(pulumi.project, spec, target) == rendered
