"""`deploy` refuses, before it stores a key or writes a target, every file target that the path
rules refuse (the shared table of tests/bad_inputs, which the engine tests run through `pulumi up`
too) and every target its preflight can tell will fail: nothing is written, not even the first."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.support.bad_inputs import BAD_KEYS, BAD_STACK, TARGET_CASES, expectations, project_files
from tests.support.project import CANARY_KEY, copy_known_project, dev_like, make_project, run_cli


def deploy(project: Path, stack: str, moonshot_key: str = CANARY_KEY) -> tuple[int, str]:
    result = run_cli("--project-dir", str(project), "deploy", "--stack", stack, "--yes",
                     env={"MOONSHOT_API_KEY": moonshot_key, "KIMICODE_API_KEY": ""})
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


@pytest.mark.parametrize("key", BAD_KEYS.values(), ids=BAD_KEYS.keys())
def test_deploy_refuses_an_environment_key_set_key_refuses(tmp_path, key):
    """The key `deploy` would store from $MOONSHOT_API_KEY gets set-key's checks (padding is stripped)."""
    project = make_project(tmp_path, {"t": dev_like(providers=["moonshot"])})
    before = project_files(project)
    code, stderr = deploy(project, "t", moonshot_key=key)
    if key.strip() == CANARY_KEY:  # padding: stripped from the environment, as set-key strips it
        assert code == 0, stderr
        return
    assert code == 2
    assert_one_line(stderr, "$MOONSHOT_API_KEY", "characters no API key has")
    assert project_files(project) == before
