"""An `up` killed with SIGKILL half-way (its keys created, its state not yet written): after
`pulumi cancel` removes its lock, the next `up` converges, adopting what the dead one created."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import boto3
import pytest

from tests.support.deployed import deployed_text, rendered_by_cli, stack_spec
from tests.support.moto import MotoServer
from tests.support.project import CANARY_KEY
from tests.support.pulumi_engine import KIMICODE_CANARY, PulumiCli
from tests.support.slow_proxy import SlowProxy

pytestmark = pytest.mark.engine


def wait_for_a_secret(deadline_s: float = 120) -> None:
    sm = boto3.client("secretsmanager")
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if sm.list_secrets()["SecretList"]:
            return
        time.sleep(0.05)
    raise AssertionError(f"the first up created no secret within {deadline_s} s")


def test_an_up_killed_half_way_converges_after_cancel(pulumi: PulumiCli, aws: MotoServer, stack_buckets,
                                                      tmp_path: Path):
    pulumi.select_stack("staging")
    pulumi.set_keys(CANARY_KEY, KIMICODE_CANARY)
    with SlowProxy(aws.endpoint, delay_s=0.3) as proxy:
        doomed = pulumi.start("up", "--yes", env={"AWS_ENDPOINT_URL": proxy.url}, log=tmp_path / "killed-up.log")
        wait_for_a_secret()
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait(timeout=30)

    locked = pulumi.run("up", "--yes", check=False)
    assert locked.returncode != 0 and "pulumi cancel" in locked.stdout + locked.stderr
    pulumi.run("cancel", "--yes")
    pulumi.up()

    sm = boto3.client("secretsmanager")
    for provider in ("moonshot", "kimi-code"):
        versions = sm.list_secret_version_ids(SecretId=f"kimi-infra/staging/{provider}")["Versions"]
        assert len(versions) == 1, provider  # adopted, not written twice
    spec = stack_spec(pulumi.project, "staging")
    rendered = rendered_by_cli(pulumi.project, "staging")
    for target in spec.targets:
        assert deployed_text(pulumi.project, spec, target) == rendered
    pulumi.run("preview", "--expect-no-changes")
