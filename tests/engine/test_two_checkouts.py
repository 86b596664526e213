"""A team's stack: two checkouts at different paths (two laptops, or a laptop and a CI runner) share one
S3 state backend. The state holds no path of either; what the second one runs acts on its own files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.support.deployed import deployed_text, rendered_by_cli, stack_spec
from tests.support.moto import MotoServer, create_bucket
from tests.support.project import CANARY_KEY
from tests.support.pulumi_engine import KIMICODE_CANARY, PulumiCli, copy_project

pytestmark = pytest.mark.engine

STATE_BUCKET = "kimi-infra-team-state"
STACK = "dev"  # its key store and its target are files in the checkout: where a checkout's path would show
DEPLOYED = Path(".kimi-infra") / STACK  # the dev stack's store file and deployed config, in the checkout


def checkout(engine_bin: Path, engine_aws: MotoServer, root: Path) -> PulumiCli:
    """A checkout of the project at `root`, on its own machine (PULUMI_HOME), logged in to the team's backend."""
    cli = PulumiCli(engine_bin, copy_project(root / "checkout"), root / "pulumi-home", engine_aws.endpoint)
    cli.login(f"s3://{STATE_BUCKET}?endpoint={engine_aws.endpoint}&region=us-east-1&use_path_style=true")
    return cli


def exported(cli: PulumiCli) -> str:
    return cli.run("stack", "export").stdout


def test_a_second_checkout_previews_refreshes_and_destroys_its_own_files(engine_bin: Path, engine_aws: MotoServer,
                                                                         tmp_path: Path):
    create_bucket(STATE_BUCKET, "us-east-1")
    first = checkout(engine_bin, engine_aws, tmp_path / "laptop")
    second = checkout(engine_bin, engine_aws, tmp_path / "ci-runner" / "work" / "deeper")
    first.select_stack(STACK)
    first.set_keys(CANARY_KEY, KIMICODE_CANARY)
    first.up()
    assert str(first.project) not in exported(first)

    # What git and a deploy give the second checkout: the stack file (encryption salt and secret config)
    # and the dev stack's local files (its key store, and the same config deployed there).
    stack_file = Path("stacks") / f"Pulumi.{STACK}.yaml"
    shutil.copy(first.project / stack_file, second.project / stack_file)
    shutil.copytree(first.project / DEPLOYED, second.project / DEPLOYED)
    second.select_stack(STACK)
    # The first checkout is gone (the laptop is closed): nothing the second runs may reach for its files.
    gone = tmp_path / "laptop-gone"
    first.project.rename(gone)

    second.run("preview", "--expect-no-changes")
    second.run("refresh", "--yes", "--expect-no-changes")
    spec = stack_spec(second.project, STACK)
    assert deployed_text(second.project, spec, spec.targets[0]) == rendered_by_cli(second.project, STACK)
    state = exported(second)
    assert str(first.project) not in state and str(second.project) not in state
    assert str(tmp_path) not in state
    target_outputs = second.resource_outputs("openclaw-config-local")
    assert target_outputs["location"] == str(DEPLOYED / "openclaw.json5")

    second.run("destroy", "--yes")
    assert not (second.project / DEPLOYED / "openclaw.json5").exists()  # the second checkout's file went
    assert (gone / DEPLOYED / "openclaw.json5").is_file()  # the first's was never touched
    assert (second.project / DEPLOYED / "secrets.json").is_file()  # keys outlive destroy (retainOnDelete)
    assert str(tmp_path) not in exported(second)
    assert not json.loads(exported(second))["deployment"].get("resources")
