"""The engine removes and first-overwrites only what kimi-infra wrote (issue 20, finding 2 and 9).

`pulumi up` after a target's path changed deletes the old location (a replace), and the first
`up` creates each target. Both go through `kimi_infra.ownership`, as `deploy` does: someone
else's content at the old path is kept, and a hand-kept file is not overwritten.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.project import CANARY_KEY
from tests.support.pulumi_engine import KIMICODE_CANARY, PulumiCli

pytestmark = pytest.mark.engine

OLD = ".kimi-infra/dev/openclaw.json5"  # the dev stack's file target
NEW = ".kimi-infra/dev/moved.json5"
HAND_KEPT = '{ gateway: { mode: "local" } } // kept by hand\n'


def move_dev_target(project: Path) -> None:
    stack_file = project / "stacks" / "Pulumi.dev.yaml"
    text = stack_file.read_text()
    assert f"path: {OLD}" in text
    stack_file.write_text(text.replace(f"path: {OLD}", f"path: {NEW}"))


def first_up(pulumi: PulumiCli) -> None:
    pulumi.select_stack("dev")
    pulumi.set_keys(CANARY_KEY, KIMICODE_CANARY)
    pulumi.up()
    assert (pulumi.project / OLD).is_file()


def test_a_path_change_keeps_someone_elses_file_at_the_old_path(pulumi: PulumiCli, aws):
    first_up(pulumi)
    move_dev_target(pulumi.project)
    (pulumi.project / OLD).write_text(HAND_KEPT)  # someone else's content lives there now

    result = pulumi.up()  # not ours at all: kept and forgotten, the step succeeds
    assert (pulumi.project / OLD).read_text() == HAND_KEPT
    assert (pulumi.project / NEW).is_file()
    assert "kept, not removed" in result.stdout + result.stderr
    assert [s for s in pulumi.preview_steps() if s["op"] != "same"] == []  # the old resource is gone from the state


def test_a_path_change_keeps_an_edited_config_and_fails_the_step(pulumi: PulumiCli, aws):
    first_up(pulumi)
    move_dev_target(pulumi.project)
    edited = (pulumi.project / OLD).read_text().replace('"merge"', '"replace"')
    assert edited != (pulumi.project / OLD).read_text()
    (pulumi.project / OLD).write_text(edited)  # our config, edited since: only its owner may say it can go

    result = pulumi.run("up", "--yes", check=False)
    assert result.returncode != 0
    assert (pulumi.project / OLD).read_text() == edited
    assert f"{OLD}: not removed: it holds content kimi-infra did not write there" in result.stdout + result.stderr
    (pulumi.project / OLD).unlink()  # the owner removes it: the next up finishes the replace
    pulumi.up()
    assert (pulumi.project / NEW).is_file()


def test_a_first_up_does_not_overwrite_a_hand_kept_file(pulumi: PulumiCli, aws):
    (pulumi.project / OLD).parent.mkdir(parents=True, exist_ok=True)
    (pulumi.project / OLD).write_text(HAND_KEPT)
    pulumi.select_stack("dev")
    pulumi.set_keys(CANARY_KEY, KIMICODE_CANARY)

    result = pulumi.run("up", "--yes", check=False)
    assert result.returncode != 0
    assert (pulumi.project / OLD).read_text() == HAND_KEPT
    assert "not overwritten: it holds content kimi-infra never wrote there" in result.stdout + result.stderr


def test_destroy_after_a_cli_rotation_still_removes_our_configs(pulumi: PulumiCli, stack_buckets):
    """`rotate` rewrote the targets since the engine's last write: what kimi-infra writes today is ours too."""
    from tests.engine.test_drift import INLINE_STACK, ROTATED_KEY, write_stack
    from tests.support.deployed import deployed_text, stack_spec
    from tests.support.project import run_cli

    write_stack(pulumi.project, "inline", INLINE_STACK)
    pulumi.select_stack("inline")
    pulumi.set_keys(CANARY_KEY, KIMICODE_CANARY)
    pulumi.up()
    rotated = run_cli("--project-dir", str(pulumi.project), "rotate", "--stack", "inline", "--provider", "moonshot",
                      "--key-stdin", "--skip-verify", stdin=ROTATED_KEY)
    assert rotated.returncode == 0, rotated.stderr

    pulumi.run("destroy", "--yes")
    spec = stack_spec(pulumi.project, "inline")
    for target in spec.targets:
        assert deployed_text(pulumi.project, spec, target) is None, target.name
