"""`pulumi up` of every shipped stack with the real engine: keys in the right store and partition,
every target byte-identical to `kimi-infra render`, the documented outputs, a no-op second run, and a
canary key that appears in plaintext nowhere."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from kimi_infra.models import AwsSecretsManagerStoreSpec
from kimi_infra.stores import partition_for_region
from tests.support.deployed import current_key, deployed_text, rendered_by_cli, stack_spec, write_fingerprint
from tests.support.project import CANARY_KEY
from tests.support.pulumi_engine import DOCUMENTED_OUTPUTS, KIMICODE_CANARY, PulumiCli

pytestmark = pytest.mark.engine


@pytest.fixture
def state_secrets() -> None:
    """The README's commands as a user types them: Pulumi's default passphrase provider."""
    return None


def assert_no_plaintext_key(pulumi: PulumiCli, stack: str, state: Path) -> None:
    """Acceptance 3: not in the checkpoint or its backups, not in the stack file (ciphertext only),
    not in any command's output, not in the stack outputs (even --show-secrets holds no key)."""
    stack_file = pulumi.project / "stacks" / f"Pulumi.{stack}.yaml"
    assert stack_file.read_text().count("secure: ") == 2
    places = {str(p): p.read_bytes() for p in state.rglob("*") if p.is_file()}
    places[str(stack_file)] = stack_file.read_bytes()
    places["transcript"] = "\n".join(pulumi.transcript).encode()
    places["outputs --show-secrets"] = pulumi.run("stack", "output", "--json", "--show-secrets").stdout.encode()
    assert len(places) > 4
    for name, content in places.items():
        for key in (CANARY_KEY, KIMICODE_CANARY):
            assert key.encode() not in content, f"plaintext key in {name}"


@pytest.mark.parametrize("stack", ["dev", "staging", "prod", "prod-cn"])
def test_up_of_every_stack(pulumi: PulumiCli, stack_buckets, stack: str, tmp_path: Path):
    pulumi.select_stack(stack)
    pulumi.set_keys(CANARY_KEY, KIMICODE_CANARY)
    pulumi.run("up", "--yes")  # as the README says (preview first); PulumiCli.up skips the preview
    spec = stack_spec(pulumi.project, stack)

    outputs = pulumi.outputs()
    assert set(outputs) == DOCUMENTED_OUTPUTS
    assert sorted(outputs["secretNames"]) == sorted(spec.providers)
    expected_keys = {"moonshot": CANARY_KEY, "kimi-code": KIMICODE_CANARY}
    for provider in spec.providers:
        assert current_key(pulumi.project, spec, provider) == expected_keys[provider]
        if isinstance(spec.secretStore, AwsSecretsManagerStoreSpec):
            sm = boto3.client("secretsmanager", region_name=spec.secretStore.region)
            arn = sm.describe_secret(SecretId=outputs["secretNames"][provider])["ARN"]
            assert arn.startswith(f"arn:{partition_for_region(spec.secretStore.region)}:secretsmanager:")
            assert outputs["secretArns"][provider] == arn
    if stack == "prod-cn":
        assert outputs["secretArns"]["moonshot"].startswith("arn:aws-cn:")

    rendered = rendered_by_cli(pulumi.project, stack)
    assert sorted(outputs["targets"]) == sorted(t.name for t in spec.targets)
    for target in spec.targets:
        assert deployed_text(pulumi.project, spec, target) == rendered, target.name

    # Acceptance 4: nothing to do right after an up, and a second up writes nothing at all.
    before = write_fingerprint(pulumi.project, spec)
    pulumi.run("preview", "--expect-no-changes")
    pulumi.up("--expect-no-changes")
    pulumi.run("refresh", "--yes", "--expect-no-changes")
    assert write_fingerprint(pulumi.project, spec) == before

    assert_no_plaintext_key(pulumi, stack, tmp_path / "state")
