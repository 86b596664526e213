"""The Pulumi program under a mocked engine whose dynamic providers run for real against moto."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from tests.program.harness import _is_secret, config_from_stack_file, run_program
from tests.support.moto import create_bucket
from tests.support.project import CANARY_KEY, run_cli

KIMICODE_CANARY = CANARY_KEY.replace("CANARY", "KIMICODE")
BUCKETS = {"staging": ("kimi-infra-staging-config", "us-east-1"), "prod": ("kimi-infra-prod-config", "us-east-1"),
           "prod-cn": ("kimi-infra-prod-cn-config", "cn-north-1")}


@pytest.fixture
def buckets(aws):
    for bucket, region in BUCKETS.values():
        create_bucket(bucket, region)


def stack_config(project: Path, stack: str) -> tuple[dict[str, str], list[str]]:
    config, _ = config_from_stack_file(project / "stacks" / f"Pulumi.{stack}.yaml")
    config["kimi-infra:moonshotApiKey"] = CANARY_KEY
    config["kimi-infra:kimicodeApiKey"] = KIMICODE_CANARY
    return config, ["kimi-infra:moonshotApiKey", "kimi-infra:kimicodeApiKey"]


def up(project: Path, stack: str, state=None, config=None):
    config, secret_keys = config or stack_config(project, stack)
    return run_program(stack, project, config, secret_keys, state)


def deployed_content(project: Path, stack: str, target: dict) -> str:
    if target["kind"] == "file":
        return (project / target["path"]).read_text()
    if target["kind"] == "s3":
        body = boto3.client("s3", region_name=target["region"]).get_object(Bucket=target["bucket"], Key=target["key"])
        return body["Body"].read().decode()
    parameter = boto3.client("ssm", region_name=target["region"]).get_parameter(
        Name=target["parameter"], WithDecryption=True)
    return parameter["Parameter"]["Value"]


def cli_render(project: Path, stack: str) -> str:
    result = run_cli("--project-dir", str(project), "render", "--stack", stack, "--out", "-")
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("stack", ["dev", "staging", "prod", "prod-cn"])
def test_up_creates_secrets_and_byte_identical_configs(project, buckets, stack):
    result = up(project, stack)
    from kimi_infra.stackfile import load_stack

    spec = load_stack(project, stack).spec
    assert set(result.outputs["secretNames"]) == set(spec.providers)
    for provider, arn in result.outputs["secretArns"].items():
        if spec.secretStore.kind == "local":
            assert arn is None
            continue
        assert arn.startswith("arn:aws-cn:" if stack == "prod-cn" else "arn:aws:"), arn
        region = spec.secretStore.region
        value = boto3.client("secretsmanager", region_name=region).get_secret_value(
            SecretId=f"kimi-infra/{stack}/{provider}", VersionStage="AWSCURRENT")["SecretString"]
        assert value == (CANARY_KEY if provider == "moonshot" else KIMICODE_CANARY)
    expected = cli_render(project, stack)
    for target in spec.targets:
        assert deployed_content(project, stack, target.model_dump()) == expected
    assert set(result.run.operations.values()) == {"create"}


@pytest.mark.parametrize("stack", ["dev", "staging", "prod", "prod-cn"])
def test_second_up_changes_nothing_and_writes_nothing(project, buckets, aws_calls, stack):
    first = up(project, stack)
    aws_calls.clear()
    second = up(project, stack, first.state)
    assert set(second.run.operations.values()) == {"same"}
    assert aws_calls.writes() == []


def test_an_override_updates_the_targets_and_a_removed_target_is_deleted(project, buckets):
    first = up(project, "prod")
    path = project / "stacks" / "Pulumi.prod.yaml"
    path.write_text(path.read_text() + "  kimi-infra:modelOverrides:\n"
                    "    moonshot/kimi-k2-thinking: {contextWindow: 131072}\n")
    second = up(project, "prod", first.state)
    ops = second.run.operations
    assert ops["openclaw-config-config-bucket"] == "update" and ops["openclaw-config-config-parameter"] == "update"
    assert ops["moonshot-key"] == "same" and ops["kimi-code-key"] == "same"
    assert "contextWindow: 131072" in deployed_content(project, "prod", {
        "kind": "s3", "bucket": "kimi-infra-prod-config", "key": "openclaw/openclaw.json5", "region": "us-east-1"})

    text = path.read_text()
    start = text.index("    # ...and the bootstrap scripts")
    end = text.index("  kimi-infra:modelOverrides:")
    path.write_text(text[:start] + text[end:])
    third = up(project, "prod", second.state)
    assert third.run.operations["openclaw-config-config-parameter"] == "delete"
    assert third.run.operations["openclaw-config-config-bucket"] == "same"
    ssm = boto3.client("ssm", region_name="us-east-1")
    assert ssm.describe_parameters()["Parameters"] == []


def test_a_rotated_key_is_not_reverted_by_the_next_up(project, buckets):
    first = up(project, "staging")
    sm = boto3.client("secretsmanager", region_name="us-east-1")
    sm.put_secret_value(SecretId="kimi-infra/staging/moonshot", SecretString="sk-rotated-key-0000000000")
    rotated_version = sm.describe_secret(SecretId="kimi-infra/staging/moonshot")["VersionIdsToStages"]
    second = up(project, "staging", first.state)
    # The resource follows the store (its versionId output moves to the rotated version) and
    # writes nothing: the key in the stack config never goes back in.
    assert second.run.operations["moonshot-key"] == "update"
    assert second.outputs["secretVersionIds"]["moonshot"] != first.outputs["secretVersionIds"]["moonshot"]
    assert sm.describe_secret(SecretId="kimi-infra/staging/moonshot")["VersionIdsToStages"] == rotated_version
    current = sm.get_secret_value(SecretId="kimi-infra/staging/moonshot", VersionStage="AWSCURRENT")
    assert current["SecretString"] == "sk-rotated-key-0000000000"
    third = up(project, "staging", second.state)
    assert third.run.operations["moonshot-key"] == "same"


def test_no_plaintext_key_outside_secrets(project, buckets):
    result = up(project, "prod")
    assert "apiKey" not in str(result.outputs)
    for text in (str(result.outputs), *result.run.blobs):
        assert CANARY_KEY not in text and KIMICODE_CANARY not in text
    for name, inputs in result.run.registered.items():
        if "apiKey" in inputs and inputs["apiKey"] is not None:
            assert _is_secret(inputs["apiKey"]), name
        for key, value in inputs.items():
            if key != "apiKey":
                assert CANARY_KEY not in str(value), (name, key)
    assert result.secret_outputs == set()  # nothing exported holds a key, so nothing needs to be secret
    assert result.key_secrecy == {"moonshot": True, "kimi-code": True}  # the key outputs are secret


def test_inline_mode_deploys_the_store_keys_without_exposing_them(project, buckets):
    path = project / "stacks" / "Pulumi.staging.yaml"
    text = path.read_text()
    for mode in ("reference", "secretref"):
        text = text.replace(f"kimi-infra:keyMode: {mode}", "kimi-infra:keyMode: inline")
    path.write_text(text)
    result = up(project, "staging")
    env = {"MOONSHOT_API_KEY": CANARY_KEY, "KIMICODE_API_KEY": KIMICODE_CANARY}
    expected = run_cli("--project-dir", str(project), "render", "--stack", "staging", "--out", "-", env=env).stdout
    s3 = boto3.client("s3", region_name="us-east-1")
    head = s3.head_object(Bucket="kimi-infra-staging-config", Key="openclaw/openclaw.json5")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert deployed_content(project, "staging", {"kind": "s3", "bucket": "kimi-infra-staging-config",
                                                 "key": "openclaw/openclaw.json5", "region": "us-east-1"}) == expected
    for text in (str(result.outputs), *result.run.blobs, *(str(r.outputs) for r in result.state.values()
                                                            if "apiKey" not in r.inputs)):
        assert CANARY_KEY not in text and KIMICODE_CANARY not in text
