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
KIMI_DYNAMIC = ("ApiKeySecret", "ConfigTarget")  # our dynamic resources' type names


def checkout(engine_bin: Path, aws: MotoServer, root: Path) -> PulumiCli:
    """A checkout of the project at `root`, on its own machine (PULUMI_HOME), logged in to the team's backend."""
    cli = PulumiCli(engine_bin, copy_project(root / "checkout"), root / "pulumi-home", aws.endpoint)
    cli.login(f"s3://{STATE_BUCKET}?endpoint={aws.endpoint}&region=us-east-1&use_path_style=true")
    return cli


def exported(cli: PulumiCli) -> str:
    return cli.run("stack", "export").stdout


def test_a_second_checkout_previews_refreshes_and_destroys_its_own_files(engine_bin: Path, aws: MotoServer,
                                                                         tmp_path: Path):
    create_bucket(STATE_BUCKET, "us-east-1")
    first = checkout(engine_bin, aws, tmp_path / "laptop")
    second = checkout(engine_bin, aws, tmp_path / "ci-runner" / "work" / "deeper")
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


def _as_an_older_version_wrote_it(resource: dict, old_checkout: str) -> None:
    """kimi-infra 0.2.x kept the checkout's path as the `projectDir` input and a file target's
    absolute location (as input, output and id)."""
    for side in ("inputs", "outputs"):
        props = resource.get(side, {})
        props["projectDir"] = old_checkout
        if "location" in props:
            props["location"] = f"{old_checkout}/{props['location']}"
    if resource["type"].endswith("ConfigTarget"):
        resource["id"] = f"{old_checkout}/{resource['id']}"


def test_a_state_an_older_version_wrote_upgrades_in_place_writing_nothing(pulumi: PulumiCli, tmp_path: Path):
    pulumi.select_stack(STACK)
    pulumi.set_keys(CANARY_KEY, KIMICODE_CANARY)
    pulumi.up()
    old_checkout = "/home/someone/kimi-infra"
    checkpoint = json.loads(exported(pulumi))
    dynamic = [r for r in checkpoint["deployment"]["resources"] if r["type"].rsplit(":", 1)[-1] in KIMI_DYNAMIC]
    assert len(dynamic) == 3  # two keys, one target
    for resource in dynamic:
        _as_an_older_version_wrote_it(resource, old_checkout)
    (tmp_path / "old.json").write_text(json.dumps(checkpoint))
    pulumi.run("stack", "import", "--file", str(tmp_path / "old.json"))
    deployed = pulumi.project / DEPLOYED / "openclaw.json5"
    store = pulumi.project / DEPLOYED / "secrets.json"
    before = {path: (path.stat().st_ino, path.stat().st_mtime_ns) for path in (deployed, store)}

    steps = {s["urn"].rsplit("::", 1)[-1]: s["op"] for s in pulumi.preview_steps()}
    assert {steps[name] for name in ("moonshot-key", "kimi-code-key", "openclaw-config-local")} == {"update"}
    pulumi.up()
    assert {path: (path.stat().st_ino, path.stat().st_mtime_ns) for path in (deployed, store)} == before  # no write
    # An update keeps a resource's id: the target's old id (its absolute path) goes at the next refresh.
    assert old_checkout not in json.dumps([{k: v for k, v in r.items() if k != "id"}
                                           for r in json.loads(exported(pulumi))["deployment"]["resources"]])
    pulumi.run("refresh", "--yes")
    assert old_checkout not in exported(pulumi)
    pulumi.up("--expect-no-changes")
    assert {path: (path.stat().st_ino, path.stat().st_mtime_ns) for path in (deployed, store)} == before
