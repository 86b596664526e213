"""The self-managed S3 state backend (the path for teams), on moto: a full `up`, and two `up`s of one
stack at once: one is refused by Pulumi's lock, the state stays intact, and the next `up` converges."""

from __future__ import annotations

import json
import time
from pathlib import Path

import boto3
import pytest

from tests.support.deployed import deployed_text, rendered_by_cli, stack_spec
from tests.support.moto import MotoServer, create_bucket
from tests.support.project import CANARY_KEY
from tests.support.pulumi_engine import DOCUMENTED_OUTPUTS, KIMICODE_CANARY, PulumiCli
from tests.support.slow_proxy import SlowProxy

pytestmark = pytest.mark.engine

STATE_BUCKET = "kimi-infra-pulumi-state"


def wait_for_lock(deadline_s: float = 60) -> None:
    s3 = boto3.client("s3")
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if s3.list_objects_v2(Bucket=STATE_BUCKET, Prefix=".pulumi/locks/").get("KeyCount", 0):
            return
        time.sleep(0.05)
    raise AssertionError(f"no lock object appeared in s3://{STATE_BUCKET}/.pulumi/locks/ within {deadline_s} s")


def test_s3_backend_up_and_a_concurrent_up_meets_the_lock(pulumi: PulumiCli, aws: MotoServer,
                                                          stack_buckets, tmp_path: Path):
    create_bucket(STATE_BUCKET, "us-east-1")
    pulumi.login(f"s3://{STATE_BUCKET}?endpoint={aws.endpoint}&region=us-east-1&use_path_style=true")
    pulumi.select_stack("staging")
    pulumi.set_keys(CANARY_KEY, KIMICODE_CANARY)
    pulumi.up()
    assert set(pulumi.outputs()) == DOCUMENTED_OUTPUTS
    stored = boto3.client("s3").list_objects_v2(Bucket=STATE_BUCKET, Prefix=".pulumi/stacks/")["Contents"]
    assert any(o["Key"].endswith("staging.json") for o in stored)
    state_before = json.loads(pulumi.run("stack", "export").stdout)["deployment"]["resources"]

    # The first up's AWS calls (not its state calls) go through a slow proxy, so it holds the lock
    # while the second one starts.
    with SlowProxy(aws.endpoint, delay_s=0.3) as proxy:
        first = pulumi.start("up", "--yes", env={"AWS_ENDPOINT_URL": proxy.url}, log=tmp_path / "first-up.log")
        wait_for_lock()
        second = pulumi.run("up", "--yes", check=False)
        assert first.wait(timeout=300) == 0, (tmp_path / "first-up.log").read_text()
    pulumi.transcript.append((tmp_path / "first-up.log").read_text())
    assert second.returncode != 0
    assert "locked" in second.stdout + second.stderr

    state_after = json.loads(pulumi.run("stack", "export").stdout)["deployment"]["resources"]
    assert sorted(r["urn"] for r in state_after) == sorted(r["urn"] for r in state_before)
    pulumi.up("--expect-no-changes")
    spec = stack_spec(pulumi.project, "staging")
    rendered = rendered_by_cli(pulumi.project, "staging")
    for target in spec.targets:
        assert deployed_text(pulumi.project, spec, target) == rendered
