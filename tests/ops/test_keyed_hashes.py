"""Issue 13: a content hash of a config that holds a key is an HMAC keyed with the store's salt.

Whoever sees a published hash (deploy record, history log, S3 metadata, `status`/`history`/`deploy`
output) must not be able to confirm a guessed key offline, so no bare sha256 of key-bearing bytes,
nor its 12-character prefix, may appear anywhere. Configs without a key keep plain sha256, which
anyone can check with `sha256sum`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import boto3

from kimi_infra.content_hash import PLAIN, ContentHasher
from kimi_infra.deploy import deploy_all
from kimi_infra.ops.deploy_plan import apply_plan, plan_deploy
from kimi_infra.stackfile import load_stack
from kimi_infra.stores import open_store
from tests.support.project import dev_like, make_project, run_cli
from tests.support.rotation import rotation_project, seed

MOONSHOT = "sk-keyed-moonshot-0123456789abcdefghij"
KIMICODE = "sk-keyed-kimicode-0123456789abcdefghij"
KEYS = {"MOONSHOT_API_KEY": MOONSHOT, "KIMICODE_API_KEY": KIMICODE}


def cli(project: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run a command that must succeed; everything it printed."""
    result = run_cli("--project-dir", str(project), *args, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


def status_json(project: Path, stack: str) -> dict:
    result = run_cli("--project-dir", str(project), "status", "--stack", stack, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def assert_no_bare_hash(published: str, key_bearing: bytes) -> None:
    bare = hashlib.sha256(key_bearing).hexdigest()
    assert bare[:12] not in published


def state_files(project: Path, stack: str) -> str:
    """Every file kimi-infra keeps for the stack except the key store itself."""
    folder = project / ".kimi-infra" / stack
    return "".join(p.read_text() for p in sorted(folder.rglob("*")) if p.is_file() and "secrets.json" not in p.name)


def test_content_hasher_is_plain_sha256_without_a_salt_and_hmac_with_one():
    data = b"apiKey: sk-guessable\n"
    assert PLAIN.of_bytes(data) == hashlib.sha256(data).hexdigest() and PLAIN.algorithm == "sha256"
    keyed, other = ContentHasher(b"\x01" * 32), ContentHasher(b"\x02" * 32)
    assert keyed.algorithm == "hmac-sha256"
    assert keyed.of_bytes(data) != PLAIN.of_bytes(data) and keyed.of_bytes(data) != other.of_bytes(data)
    assert keyed.of_text(data.decode()) == keyed.of_bytes(data) and len(keyed.of_bytes(data)) == 64
    assert "\\x01" not in repr(keyed)  # the salt never shows in a log or a traceback


def test_an_inline_local_stack_publishes_only_keyed_hashes(tmp_path, caplog):
    project = make_project(tmp_path, {"t": dev_like(keyMode="inline")})
    published = cli(project, "deploy", "--stack", "t", "--json", env=KEYS)
    deployed = (project / "out" / "openclaw.json5").read_bytes()
    assert MOONSHOT.encode() in deployed

    status = status_json(project, "t")
    published += json.dumps(status) + cli(project, "status", "--stack", "t")
    published += cli(project, "history", "--stack", "t", "--json") + cli(project, "history", "--stack", "t")
    with caplog.at_level(logging.DEBUG, logger="kimi_infra"):
        assert deploy_all(load_stack(project, "t").spec, project).outcomes == {"local": "unchanged"}
    published += caplog.text
    published += cli(project, "render", "--stack", "t", "--out", str(tmp_path / "rendered.json5"), env=KEYS)
    published += state_files(project, "t")

    assert_no_bare_hash(published, deployed)
    salt = open_store(load_stack(project, "t").spec, "moonshot", project).token_salt()
    target = status["targets"][0]
    assert status["hashAlgorithm"] == "hmac-sha256" and target["state"] == "in-sync"
    assert target["deployedSha256"] == ContentHasher(salt).of_bytes(deployed) == target["renderedSha256"]


def test_keyed_hashes_differ_between_stores_holding_the_same_keys(tmp_path):
    hashes = []
    for name in ("a", "b"):
        project = make_project(tmp_path / name, {"t": dev_like(keyMode="inline")})
        cli(project, "deploy", "--stack", "t", env=KEYS)
        hashes.append(status_json(project, "t")["targets"][0]["deployedSha256"])
    assert hashes[0] != hashes[1]  # each store's own random salt


def test_a_reference_stack_keeps_plain_sha256(tmp_path):
    project = make_project(tmp_path, {"t": dev_like()})
    cli(project, "deploy", "--stack", "t")
    status = status_json(project, "t")
    deployed = (project / "out" / "openclaw.json5").read_bytes()
    assert status["hashAlgorithm"] == "sha256"
    assert status["targets"][0]["deployedSha256"] == hashlib.sha256(deployed).hexdigest()


def test_inline_s3_and_ssm_targets_publish_only_keyed_hashes(aws, tmp_path):
    project = rotation_project(tmp_path, "inline")
    spec = seed(project, "prod")
    bucket, parameter = spec.targets[0], spec.targets[1]
    s3 = boto3.client("s3", region_name=bucket.region)
    deployed = s3.get_object(Bucket=bucket.bucket, Key=bucket.key)["Body"].read()
    assert b"sk-moonshot-old" in deployed

    metadata = s3.head_object(Bucket=bucket.bucket, Key=bucket.key)["Metadata"]
    status = status_json(project, "prod")
    published = json.dumps(metadata) + json.dumps(status) + cli(project, "status", "--stack", "prod")
    published += cli(project, "history", "--stack", "prod", "--json") + cli(project, "history", "--stack", "prod")
    published += cli(project, "deploy", "--stack", "prod", "--json")

    assert_no_bare_hash(published, deployed)
    assert status["hashAlgorithm"] == "hmac-sha256"
    assert [t["state"] for t in status["targets"]] == ["in-sync", "in-sync"], status
    assert metadata["kimi-infra-content-hash"] == status["targets"][0]["deployedSha256"]
    assert parameter.kind == "ssm"


def test_an_inline_deploy_reads_the_salt_once(aws, tmp_path, aws_calls):
    project = rotation_project(tmp_path, "inline")
    spec = seed(project, "prod")
    aws_calls.clear()

    apply_plan(plan_deploy(spec, project), spec, project, prune=False)

    reads = [op for service, op, _ in aws_calls.calls if service == "secretsmanager"]
    # The plan, the writes and the check that their keys are still current (deploy.write_until_current) each
    # read every provider's current key; the salt is read once for all.
    assert reads == ["GetSecretValue"] * (1 + 3 * len(spec.providers)), reads
