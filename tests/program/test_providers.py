"""Per-method checks of the dynamic providers, run for real on the dev stack's local store and file
(the fast twin of tests/engine/, which runs the same methods through the real engine)."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import dill
import pytest

from components.program import BOOLEAN_SETTINGS, STRUCTURED_SETTINGS, TEXT_SETTINGS
from kimi_infra.models import StackSpec
from kimi_infra.secret import Secret
from kimi_infra.stackfile import load_stack
from kimi_infra.stores import open_store
from tests.program.harness import Recorded, config_from_stack_file, run_program
from tests.support.deployed import rendered_by_cli
from tests.support.project import CANARY_KEY, PROJECT_DIR, copy_known_project
from tests.support.pulumi_engine import KIMICODE_CANARY

ROTATED = "sk-rotated-moonshot-0123456789abcdefghij"


@pytest.fixture
def deployed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, Recorded]]:
    """The dev stack after one mocked `up`: the project and the state the engine would keep; the
    working folder is the project's, as the engine's for the provider plugin."""
    copy_known_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    config, _ = config_from_stack_file(tmp_path / "stacks" / "Pulumi.dev.yaml")
    config |= {"kimi-infra:moonshotApiKey": CANARY_KEY, "kimi-infra:kimicodeApiKey": KIMICODE_CANARY}
    result = run_program("dev", tmp_path, config, ["kimi-infra:moonshotApiKey", "kimi-infra:kimicodeApiKey"])
    return tmp_path, result.state


def provider_of(recorded: Recorded):
    return dill.loads(base64.b64decode(recorded.provider_blob))


def test_every_stack_setting_has_a_reader():
    assert sorted((*STRUCTURED_SETTINGS, *BOOLEAN_SETTINGS, *TEXT_SETTINGS)) == sorted(
        name for name in StackSpec.model_fields if name != "stack")


def test_target_read_reports_live_content_and_a_deleted_target_as_gone(deployed):
    _, state = deployed
    target = state["openclaw-config-local"]
    provider = provider_of(target)
    assert provider.read(target.id, target.outputs).outs["contentHash"] == target.outputs["contentHash"]
    path = Path(target.outputs["location"])
    path.write_text("edited behind our back\n")
    assert provider.read(target.id, target.outputs).outs["contentHash"] != target.outputs["contentHash"]
    path.unlink()
    assert provider.read(target.id, target.outputs).id == ""


def test_target_diff_sees_drift_that_the_inputs_do_not(deployed):
    project, state = deployed
    target = state["openclaw-config-local"]
    provider = provider_of(target)
    assert not provider.diff(target.id, target.outputs, target.inputs).changes
    Path(target.outputs["location"]).write_text("edited behind our back\n")
    drift = provider.diff(target.id, target.outputs, target.inputs)
    assert drift.changes and not drift.replaces
    moved = {**target.inputs, "location": str(project / "elsewhere.json5")}
    assert provider.diff(target.id, target.outputs, moved).replaces == ["location"]


def test_key_diff_follows_a_rotation_and_update_never_reverts_it(deployed):
    project, state = deployed
    key = state["moonshot-key"]
    provider = provider_of(key)
    assert not provider.diff(key.id, key.outputs, key.inputs).changes
    store = open_store(load_stack(project, "dev").spec, "moonshot", project)
    store.ensure(Secret(ROTATED))

    diff = provider.diff(key.id, key.outputs, key.inputs)
    assert diff.changes and not diff.replaces
    updated = provider.update(key.id, key.outputs, key.inputs)
    assert store.get("current").reveal() == ROTATED
    assert updated.outs["versionId"] != key.outputs["versionId"]
    assert not provider.diff(key.id, updated.outs, key.inputs).changes


def test_a_key_missing_from_the_store_reads_as_gone_and_is_recreated_from_the_config(deployed):
    project, state = deployed
    key = state["moonshot-key"]
    provider = provider_of(key)
    store = open_store(load_stack(project, "dev").spec, "moonshot", project)
    store.delete()
    assert provider.read(key.id, key.outputs).id == ""
    assert provider.diff(key.id, key.outputs, key.inputs).changes
    provider.update(key.id, key.outputs, key.inputs)
    assert store.get("current").reveal() == CANARY_KEY


def test_the_program_renders_every_setting_as_the_cli_does(tmp_path: Path):
    """Settings read through pulumi.Config (here baseUrls and its opt-in) reach the render: `up` and
    `render` give the same bytes."""
    shutil.copy(PROJECT_DIR / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "stacks").mkdir()
    stack_file = tmp_path / "stacks" / "Pulumi.proxied.yaml"
    stack_file.write_text(
        "config:\n"
        "  kimi-infra:region: cn\n"
        "  kimi-infra:providers: [moonshot]\n"
        "  kimi-infra:baseUrls: {moonshot: 'https://llm-proxy.example.com/moonshot/v1'}\n"
        "  kimi-infra:targets: [{name: local, kind: file, path: out/openclaw.json5}]\n")
    config, _ = config_from_stack_file(stack_file)
    config["kimi-infra:moonshotApiKey"] = CANARY_KEY
    run_program("proxied", tmp_path, config, ["kimi-infra:moonshotApiKey"])
    deployed = (tmp_path / "out" / "openclaw.json5").read_text()
    assert "https://llm-proxy.example.com/moonshot/v1" in deployed
    assert deployed == rendered_by_cli(tmp_path, "proxied")


def test_the_state_holds_no_path_of_the_checkout(deployed):
    """A team's checkouts and CI runners share one state: no input, output or id names a machine path."""
    project, state = deployed
    for name, recorded in state.items():
        held = json.dumps([recorded.id, recorded.inputs, recorded.outputs])
        assert str(project) not in held, f"{name} holds {project}"
    assert state["openclaw-config-local"].outputs["location"] == ".kimi-infra/dev/openclaw.json5"


def test_read_and_delete_act_on_the_checkout_the_engine_runs_not_the_one_that_ran_up(deployed, tmp_path: Path,
                                                                                      monkeypatch):
    first, state = deployed
    second = tmp_path / "second-checkout"
    shutil.copytree(first, second)
    target = state["openclaw-config-local"]
    provider = provider_of(target)
    location = target.outputs["location"]
    monkeypatch.chdir(second)

    (second / location).unlink()
    assert provider.read(target.id, target.outputs).id == ""  # gone here, though the first checkout has it
    shutil.copy2(first / location, second / location)
    assert provider.read(target.id, target.outputs).outs["contentHash"] == target.outputs["contentHash"]
    provider.delete(target.id, target.outputs)
    assert not (second / location).exists()
    assert (first / location).exists()


def test_a_state_an_older_version_wrote_upgrades_in_place_writing_nothing(deployed):
    """0.2.x kept `projectDir` (the checkout's absolute path) and an absolute file location: the next
    `up` updates in place (no replacement), writes neither the target nor the store, and the state
    it leaves holds neither."""
    project, state = deployed
    old_checkout = "/home/someone/old-checkout"
    target, key = state["openclaw-config-local"], state["moonshot-key"]
    target_outputs = {**target.outputs, "projectDir": old_checkout,
                      "location": f"{old_checkout}/{target.outputs['location']}"}
    key_outputs = {**key.outputs, "projectDir": old_checkout}
    deployed_file = project / target.outputs["location"]
    before = deployed_file.stat()
    versions = open_store(load_stack(project, "dev").spec, "moonshot", project).describe().versions

    for recorded, old_outputs in ((target, target_outputs), (key, key_outputs)):
        provider = provider_of(recorded)
        diff = provider.diff(recorded.id, old_outputs, recorded.inputs)
        assert diff.changes and not diff.replaces
        updated = provider.update(recorded.id, old_outputs, recorded.inputs).outs
        assert old_checkout not in json.dumps(updated)
        refreshed = provider.read(recorded.id, old_outputs).outs
        assert old_checkout not in json.dumps(refreshed)

    after = deployed_file.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # no write: same file, untouched
    assert open_store(load_stack(project, "dev").spec, "moonshot", project).describe().versions == versions


def test_the_plugin_builds_each_validator_once(deployed):
    """The providers validate the store and target settings on every call; the pydantic adapter for
    each is built once a process (issue 23: ~10 ms a build, on the engine's critical path)."""
    from components.providers import _adapter

    _, state = deployed
    calls = [(provider_of(recorded), recorded) for recorded in (state["moonshot-key"], state["openclaw-config-local"])]
    for provider, recorded in calls:
        assert not provider.diff(recorded.id, recorded.outputs, recorded.inputs).changes
    built = _adapter.cache_info().currsize
    for provider, recorded in calls:
        assert not provider.diff(recorded.id, recorded.outputs, recorded.inputs).changes
        provider.check(recorded.outputs, recorded.inputs)
    assert _adapter.cache_info().currsize == built and _adapter.cache_info().hits > 0
