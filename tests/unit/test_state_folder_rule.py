"""The state-folder rule (issue 13) refuses what kimi-infra keeps, and only that: a new file directly
in a stack's own folder is allowed whatever the stack is called, the history folder's own name is not."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kimi_infra.errors import KimiInfraError
from kimi_infra.path_rules import check_distinct_paths
from kimi_infra.stackfile import load_stack
from tests.support.project import dev_like, make_project


def spec_with_target(tmp_path, stack: str, path: str):
    project = make_project(tmp_path, {stack: dev_like(targets=[{"name": "local", "kind": "file", "path": path}])})
    return project, load_stack(project, stack).spec


@pytest.mark.parametrize("stack", ["history", "deployed.json-notes", "secrets"])
def test_a_new_file_in_the_stacks_own_folder_is_allowed_whatever_the_stack_is_called(tmp_path, stack):
    project, spec = spec_with_target(tmp_path, stack, f".kimi-infra/{stack}/openclaw.json5")
    check_distinct_paths(project, spec, "stacks/x.yaml")  # no error
    check_distinct_paths(project, spec, "stacks/x.yaml", out=project / ".kimi-infra" / stack / "render.json5")


def test_a_target_in_a_stack_named_history_still_may_not_be_its_history_log(tmp_path):
    project, spec = spec_with_target(tmp_path, "history", ".kimi-infra/history/history/local.jsonl")
    with pytest.raises(KimiInfraError, match="a history log of the state folder"):
        check_distinct_paths(project, spec, "stacks/x.yaml")


def test_render_out_may_not_be_the_history_folder(tmp_path):
    project, spec = spec_with_target(tmp_path, "t", "out/openclaw.json5")
    with pytest.raises(KimiInfraError, match="the history folder of the state folder"):
        check_distinct_paths(project, spec, "stacks/x.yaml", out=project / ".kimi-infra" / "t" / "history")


@pytest.mark.parametrize("path", ["keys/b-store.json", "keys/b-store.json.rotation.lock"])
def test_a_target_may_not_be_another_stacks_store_file_kept_outside_the_state_folder(tmp_path, path):
    target = {"name": "local", "kind": "file", "path": path}
    project = make_project(tmp_path, {"a": dev_like(targets=[target]),
                                      "b": dev_like(secretStore={"kind": "local", "path": "keys/b-store.json"})})
    spec = load_stack(project, "a").spec
    with pytest.raises(KimiInfraError, match=re.escape(f"the secret store file {Path(path).name}, which")):
        check_distinct_paths(project, spec, "stacks/Pulumi.a.yaml")
    with pytest.raises(KimiInfraError, match=re.escape("the secret store file b-store.json, which")):
        check_distinct_paths(project, load_stack(project, "b").spec, "stacks/Pulumi.b.yaml",
                             out=project / "keys" / "b-store.json")


def test_a_broken_stack_file_beside_does_not_stop_the_check(tmp_path):
    project, spec = spec_with_target(tmp_path, "t", "out/openclaw.json5")
    (project / "stacks" / "Pulumi.broken.yaml").write_text("config: [not, a, mapping\n")
    check_distinct_paths(project, spec, "stacks/Pulumi.t.yaml")  # no error: that stack has no store we can name
