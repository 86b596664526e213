"""Engine-test fixtures: the stack buckets, a project copy, and the KMS key its stacks' state secrets use.
AWS is the worker's shared moto_server, reset for each test (the `aws` fixture): a server of each test's own
cost its start, and moto's loading at its first call of each service (up to ~9 s for SSM under load), in
every test. The built Pulumi engine, `engine_bin`, is a shared fixture in tests/support/fixtures.py: the
gateway fleet tests use it too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.moto import MotoServer, create_bucket
from tests.support.pulumi_engine import PulumiCli, copy_project, kms_secrets_provider

# The buckets the shipped stack files deploy to (they must exist before `up`, as for users).
STACK_BUCKETS = {"kimi-infra-staging-config": "us-east-1", "kimi-infra-prod-config": "us-east-1",
                 "kimi-infra-prod-cn-config": "cn-north-1"}


@pytest.fixture
def stack_buckets(aws: MotoServer) -> None:
    for bucket, region in STACK_BUCKETS.items():
        create_bucket(bucket, region)


@pytest.fixture
def state_secrets(aws: MotoServer) -> str | None:
    """What the `pulumi` fixture's stacks encrypt their secrets with: a KMS key on the worker's moto_server
    (see `kms_secrets_provider` for the CPU it saves). A module that runs the README's own commands
    overrides this with None: Pulumi's default passphrase provider, as a user gets it."""
    return kms_secrets_provider(aws.endpoint)


@pytest.fixture
def pulumi(engine_bin: Path, aws: MotoServer, tmp_path: Path, state_secrets: str | None) -> PulumiCli:
    """The pulumi CLI in a fresh copy of the project, logged in to a local (file://) backend."""
    cli = PulumiCli(engine_bin, copy_project(tmp_path / "project"), tmp_path / "pulumi-home", aws.endpoint,
                    secrets_provider=state_secrets)
    state = tmp_path / "state"
    state.mkdir()
    cli.login(f"file://{state}")
    return cli
