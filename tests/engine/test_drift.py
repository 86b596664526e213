"""Drift with the real engine: `pulumi refresh` sees targets edited or deleted behind our back and keys
rotated with `kimi-infra rotate`; the next `pulumi up` repairs every target and never reverts a key."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import boto3
import pytest
import yaml

from tests.support.deployed import current_key, deployed_text, rendered_by_cli, stack_spec
from tests.support.project import CANARY_KEY, run_cli
from tests.support.pulumi_engine import KIMICODE_CANARY, PulumiCli, copy_project

pytestmark = pytest.mark.engine

ROTATED_KEY = "sk-rotated-moonshot-0123456789abcdefghijklmnop"
# An inline stack: the rendered files hold the keys, so they must follow every rotation.
INLINE_STACK = {
    "kimi-infra:region": "global",
    "kimi-infra:providers": ["moonshot", "kimi-code"],
    "kimi-infra:keyMode": "inline",
    "kimi-infra:secretStore": {"kind": "aws-secrets-manager", "region": "us-east-1"},
    "kimi-infra:targets": [
        {"name": "local", "kind": "file", "path": "out/openclaw.json5"},
        {"name": "bucket", "kind": "s3", "bucket": "kimi-infra-staging-config", "key": "inline/openclaw.json5",
         "region": "us-east-1"},
    ],
}


def write_stack(project: Path, stack: str, config: dict) -> None:
    (project / "stacks" / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": config}, sort_keys=False))


def inline_render(project: Path, stack: str, moonshot_key: str) -> str:
    return rendered_by_cli(project, stack, env={"MOONSHOT_API_KEY": moonshot_key, "KIMICODE_API_KEY": KIMICODE_CANARY})


def assert_targets_are(pulumi: PulumiCli, stack: str, text: str) -> None:
    spec = stack_spec(pulumi.project, stack)
    for target in spec.targets:
        assert deployed_text(pulumi.project, spec, target) == text, target.name


def test_refresh_sees_edits_and_deletions_and_up_repairs_them(pulumi: PulumiCli, stack_buckets):
    write_stack(pulumi.project, "inline", INLINE_STACK)
    pulumi.select_stack("inline")
    pulumi.set_keys(CANARY_KEY, KIMICODE_CANARY)
    pulumi.up()
    expected = inline_render(pulumi.project, "inline", CANARY_KEY)
    assert_targets_are(pulumi, "inline", expected)
    # Issue 13: the state's contentHash of key-bearing bytes is keyed, never their bare sha256.
    bare = hashlib.sha256(expected.encode()).hexdigest()
    assert bare[:12] not in pulumi.run("stack", "export").stdout
    assert all(len(h) == 64 and h != bare for h in pulumi.outputs()["contentHashes"].values())

    boto3.client("s3").put_object(Bucket="kimi-infra-staging-config", Key="inline/openclaw.json5", Body=b"{}")
    (pulumi.project / "out" / "openclaw.json5").unlink()
    assert pulumi.run("preview", "--expect-no-changes", check=False).returncode != 0  # up would repair both

    refreshed = pulumi.run("refresh", "--yes").stdout
    assert "ConfigTarget openclaw-config-local deleted" in refreshed  # gone from the state: up writes it again
    assert "ConfigTarget openclaw-config-bucket updated" in refreshed  # its live content hash is in the state
    pulumi.up()
    assert_targets_are(pulumi, "inline", expected)
    pulumi.run("preview", "--expect-no-changes")


def test_a_rotated_inline_key_is_followed_never_reverted(pulumi: PulumiCli, stack_buckets):
    write_stack(pulumi.project, "inline", INLINE_STACK)
    pulumi.select_stack("inline")
    pulumi.set_keys(CANARY_KEY, KIMICODE_CANARY)
    pulumi.up()
    spec = stack_spec(pulumi.project, "inline")
    version_before = pulumi.resource_outputs("moonshot-key")["versionId"]

    rotated = run_cli("--project-dir", str(pulumi.project), "rotate", "--stack", "inline", "--provider", "moonshot",
                      "--key-stdin", "--skip-verify", stdin=ROTATED_KEY)
    assert rotated.returncode == 0, rotated.stderr
    (pulumi.project / "out" / "openclaw.json5").write_text("edited behind our back\n")

    pulumi.run("refresh", "--yes")
    assert pulumi.resource_outputs("moonshot-key")["versionId"] != version_before  # refresh saw the rotation
    pulumi.up()
    assert current_key(pulumi.project, spec, "moonshot") == ROTATED_KEY
    assert_targets_are(pulumi, "inline", inline_render(pulumi.project, "inline", ROTATED_KEY))
    pulumi.run("preview", "--expect-no-changes")

    # Without a refresh, too: the next up follows a second rotation and writes the new key out.
    second_key = ROTATED_KEY.replace("rotated", "second")
    rotated = run_cli("--project-dir", str(pulumi.project), "rotate", "--stack", "inline", "--provider", "moonshot",
                      "--key-stdin", "--skip-verify", stdin=second_key)
    assert rotated.returncode == 0, rotated.stderr
    (pulumi.project / "out" / "openclaw.json5").unlink()
    pulumi.up()
    assert current_key(pulumi.project, spec, "moonshot") == second_key
    assert_targets_are(pulumi, "inline", inline_render(pulumi.project, "inline", second_key))


def test_an_up_from_a_second_checkout_creates_the_local_store_and_file(pulumi: PulumiCli, tmp_path: Path):
    pulumi.select_stack("dev")
    pulumi.set_keys(CANARY_KEY, KIMICODE_CANARY)
    pulumi.up()
    second = PulumiCli(pulumi.engine_bin, copy_project(tmp_path / "second"), pulumi.home, pulumi.aws_endpoint,
                       secrets_provider=pulumi.secrets_provider)
    shutil.copy(pulumi.project / "stacks" / "Pulumi.dev.yaml", second.project / "stacks" / "Pulumi.dev.yaml")
    second.select_stack("dev")
    second.up()
    spec = stack_spec(second.project, "dev")
    assert current_key(second.project, spec, "moonshot") == CANARY_KEY
    assert_targets_are(second, "dev", rendered_by_cli(second.project, "dev"))
    second.run("preview", "--expect-no-changes")
