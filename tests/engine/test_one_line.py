"""Under the engine, what a user can get wrong or meet in operation reaches them as our one line
(where, problem, fix) and never as a Python traceback (issue 22, Build 5, Acceptance 6): no key set,
an unknown setting in the stack file, an unreachable key store, a throttled key store. Each case is
one stack on its own moto, run through the real `pulumi preview` and `pulumi up`."""

from __future__ import annotations

import subprocess

import pytest

from tests.support.ports import free_port
from tests.support.project import CANARY_KEY
from tests.support.pulumi_engine import KIMICODE_CANARY, PulumiCli
from tests.support.throttling_server import ThrottlingServer

pytestmark = pytest.mark.engine

SECRETS_MANAGER_ENDPOINT = "AWS_ENDPOINT_URL_SECRETS_MANAGER"
"""botocore's per-service endpoint variable: points only the key store elsewhere (S3 stays on moto)."""
COMMANDS = (("preview",), ("up", "--yes"))


def assert_one_line(result: subprocess.CompletedProcess, *words: str) -> str:
    """The command failed, printed no traceback (and no key), and its diagnostics hold exactly one
    line with all of `words` that also names a fix; that line is returned."""
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    assert CANARY_KEY not in output and KIMICODE_CANARY not in output
    diagnostics = output.partition("Diagnostics:")[2].splitlines()
    lines = [line.strip() for line in diagnostics if all(word in line for word in words)]
    assert len(lines) == 1, output
    assert lines[0].startswith("error: ") and "; fix: " in lines[0], lines[0]
    return lines[0]


def assert_each_command_says(pulumi: PulumiCli, *words: str, env: dict[str, str] | None = None) -> None:
    for command in COMMANDS:
        assert_one_line(pulumi.run(*command, check=False, env=env), *words)


def test_no_key_set_is_one_line(pulumi: PulumiCli, stack_buckets):
    """A secretref stack with an empty Secrets Manager and no `kimi-infra:moonshotApiKey` config."""
    pulumi.select_stack("staging")
    assert_each_command_says(pulumi, "needs the moonshot key", "kimi-infra:moonshotApiKey")


def test_an_unknown_setting_is_one_line(pulumi: PulumiCli):
    stack_file = pulumi.project / "stacks" / "Pulumi.dev.yaml"
    stack_file.write_text(stack_file.read_text() + "  kimi-infra:primaryModle: moonshot/kimi-k2-0905-preview\n")
    pulumi.select_stack("dev")
    assert_each_command_says(pulumi, "stacks/Pulumi.dev.yaml", "kimi-infra:primaryModle", "unknown setting")


def test_an_unreachable_store_is_one_line(pulumi: PulumiCli, stack_buckets):
    """Secrets Manager at a loopback port nobody listens on (connection refused)."""
    pulumi.select_stack("staging")
    pulumi.set_keys(CANARY_KEY, KIMICODE_CANARY)
    closed = {SECRETS_MANAGER_ENDPOINT: f"http://127.0.0.1:{free_port()}"}
    assert_each_command_says(pulumi, "refused", env=closed)


def test_a_throttled_store_is_one_line(pulumi: PulumiCli, stack_buckets, aws):
    """Every Secrets Manager call answered with ThrottlingException: the program's own checks meet it."""
    pulumi.select_stack("staging")
    pulumi.set_keys(CANARY_KEY, KIMICODE_CANARY)
    with ThrottlingServer(aws.endpoint) as throttling:
        assert_each_command_says(pulumi, "throttling", env={SECRETS_MANAGER_ENDPOINT: throttling.url})
    assert throttling.throttled


def test_a_store_throttling_its_writes_is_one_line(pulumi: PulumiCli, stack_buckets, aws):
    """Reads pass, so the program's checks pass and `up` creates the key's secret: the provider's own
    create meets the throttle, and the engine reports it as our line for that resource."""
    pulumi.select_stack("staging")
    pulumi.set_keys(CANARY_KEY, KIMICODE_CANARY)
    writes = frozenset({"CreateSecret", "PutSecretValue", "UpdateSecret", "TagResource"})
    with ThrottlingServer(aws.endpoint, writes) as throttling:
        result = pulumi.run("up", "--yes", check=False, env={SECRETS_MANAGER_ENDPOINT: throttling.url})
    assert any(target.endswith(".CreateSecret") for target in throttling.throttled), throttling.throttled
    for provider in ("moonshot", "kimi-code"):
        assert_one_line(result, f"error: kimi-infra/staging/{provider}: AWS is throttling requests")


def test_an_unreachable_target_on_refresh_and_destroy_is_one_line(pulumi: PulumiCli, stack_buckets):
    """`refresh` and `destroy` run no program (so none of its checks): the providers' own read and
    delete meet the closed S3 endpoint, and the engine reports our line for the target."""
    pulumi.select_stack("staging")
    pulumi.set_keys(CANARY_KEY, KIMICODE_CANARY)
    pulumi.up()
    closed = {"AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{free_port()}"}
    for command in (("refresh", "--yes"), ("destroy", "--yes")):
        assert_one_line(pulumi.run(*command, check=False, env=closed), "refused")
    assert pulumi.outputs()["targets"]  # nothing was deleted from the state
