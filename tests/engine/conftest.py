"""Engine-test fixtures: a moto_server of each test's own, a project copy (the built Pulumi engine,
`engine_bin`, is a shared fixture in tests/support/fixtures.py: the gateway fleet tests use it too).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.moto import MotoServer, create_bucket, point_boto3_at, start_moto, stop_moto
from tests.support.pulumi_engine import PulumiCli, copy_project

# The buckets the shipped stack files deploy to (they must exist before `up`, as for users).
STACK_BUCKETS = {"kimi-infra-staging-config": "us-east-1", "kimi-infra-prod-config": "us-east-1",
                 "kimi-infra-prod-cn-config": "cn-north-1"}


@pytest.fixture
def engine_aws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    """A moto_server of this test's own, with boto3 (and the CLI subprocesses) pointed at it."""
    server = start_moto(tmp_path / "moto_server.log")
    point_boto3_at(monkeypatch, server.endpoint)
    yield server
    stop_moto(server)


@pytest.fixture
def stack_buckets(engine_aws: MotoServer) -> None:
    for bucket, region in STACK_BUCKETS.items():
        create_bucket(bucket, region)



@pytest.fixture
def pulumi(engine_bin: Path, engine_aws: MotoServer, tmp_path: Path) -> PulumiCli:
    """The pulumi CLI in a fresh copy of the project, logged in to a local (file://) backend."""
    cli = PulumiCli(engine_bin, copy_project(tmp_path / "project"), tmp_path / "pulumi-home", engine_aws.endpoint)
    state = tmp_path / "state"
    state.mkdir()
    cli.login(f"file://{state}")
    return cli
