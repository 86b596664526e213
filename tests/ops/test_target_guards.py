"""`deploy` refuses, before it stores a key or writes a target, every file target that the path
rules refuse (the shared table of tests/bad_inputs, which the engine tests run through `pulumi up`
too) and every target its preflight can tell will fail: nothing is written, not even the first."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.support.bad_inputs import BAD_STACK, TARGET_CASES, expectations, project_files
from tests.support.project import CANARY_KEY, copy_known_project, dev_like, make_project, run_cli


def deploy(project: Path, stack: str) -> tuple[int, str]:
    result = run_cli("--project-dir", str(project), "deploy", "--stack", stack, "--yes",
                     env={"MOONSHOT_API_KEY": CANARY_KEY, "KIMICODE_API_KEY": ""})
    assert "Traceback" not in result.stdout + result.stderr and CANARY_KEY not in result.stdout + result.stderr
    return result.returncode, result.stderr


def assert_one_line(stderr: str, *words: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert all(word in lines[0] for word in words), lines[0]
    assert "fix: " in lines[0]


@pytest.mark.parametrize("stack_file", TARGET_CASES, ids=lambda p: p.stem)
def test_deploy_refuses_each_bad_target_and_writes_nothing(tmp_path, stack_file):
    project = copy_known_project(tmp_path / "project")
    shutil.copy(stack_file, project / "stacks" / f"Pulumi.{BAD_STACK}.yaml")
    before = project_files(project)
    code, stderr = deploy(project, BAD_STACK)
    assert code == 2
    assert_one_line(stderr, *expectations(stack_file))
    assert project_files(project) == before  # no target, no key store, no record


def test_deploy_refuses_a_second_target_that_is_not_a_regular_file(tmp_path):
    targets = [{"name": "first", "kind": "file", "path": "out/openclaw.json5"},
               {"name": "second", "kind": "file", "path": "out/null.json5"}]
    project = make_project(tmp_path, {"t": dev_like(targets=targets)})
    (project / "out").mkdir()
    (project / "out" / "null.json5").symlink_to(os.devnull)  # write_atomic never renames over a device
    before = project_files(project)
    code, stderr = deploy(project, "t")
    assert code == 2
    assert_one_line(stderr, "target second", "is not a regular file")
    assert project_files(project) == before


def test_deploy_refuses_a_target_whose_history_log_cannot_be_kept(tmp_path):
    """The target's history log is appended to after its write: a file where its folder must be
    would fail the deploy after the target was written."""
    project = make_project(tmp_path, {"t": dev_like()})
    (project / ".kimi-infra" / "t").mkdir(parents=True)
    (project / ".kimi-infra" / "t" / "history").write_text("not a folder\n")
    before = project_files(project)
    code, stderr = deploy(project, "t")
    assert code == 2
    assert_one_line(stderr, "target local", "history", "its folder cannot be created")
    assert project_files(project) == before


def test_deploy_refuses_a_target_path_no_file_can_have(tmp_path):
    """A name over the file system's 255-byte limit (200 two-byte letters): refused in one line
    before anything is written (the first target was written, then the second failed)."""
    targets = [{"name": "first", "kind": "file", "path": "out/openclaw.json5"},
               {"name": "long", "kind": "file", "path": "out/" + "é" * 200 + "/openclaw.json5"}]
    project = make_project(tmp_path, {"t": dev_like(targets=targets)})
    before = project_files(project)
    code, stderr = deploy(project, "t")
    assert code == 2
    assert_one_line(stderr, "target long", "longer than the file system")
    assert project_files(project) == before
