"""The program's door applies deploy's guards before it registers anything, and the dynamic providers
check again where they write (fast twins of tests/engine/test_guards.py, on the mocked engine)."""

from __future__ import annotations

import json
from pathlib import Path

import pulumi
import pytest

from components.providers.api_key_secret import ApiKeySecretProvider
from components.providers.config_target import ConfigTargetProvider
from kimi_infra.errors import KimiInfraError
from kimi_infra.stackfile import load_stack
from tests.program.harness import config_from_stack_file, run_program
from tests.support.bad_inputs import BAD_KEYS, BAD_STACK, DEV_STORE, TARGET_CASES, expectations, project_files
from tests.support.project import CANARY_KEY, copy_known_project
from tests.support.pulumi_engine import KIMICODE_CANARY


def keys_config(moonshot: str, kimicode: str = KIMICODE_CANARY) -> dict[str, str]:
    return {"kimi-infra:moonshotApiKey": moonshot, "kimi-infra:kimicodeApiKey": kimicode}


def refused_run(project: Path, stack: str, config: dict[str, str]) -> str:
    """Run the program; it must refuse with a RunError (one line) and leave the project as it was."""
    before = project_files(project)
    with pytest.raises(pulumi.RunError) as refused:
        run_program(stack, project, config, list(keys_config("")))
    assert project_files(project) == before
    message = str(refused.value)
    assert "\n" not in message and "fix: " in message and CANARY_KEY not in message
    return message


@pytest.mark.parametrize("stack_file", TARGET_CASES, ids=lambda p: p.stem)
def test_the_program_refuses_each_bad_target_before_registering(tmp_path, stack_file):
    copy_known_project(tmp_path)
    (tmp_path / "stacks" / f"Pulumi.{BAD_STACK}.yaml").write_bytes(stack_file.read_bytes())
    config, _ = config_from_stack_file(stack_file)
    message = refused_run(tmp_path, BAD_STACK, config | keys_config(CANARY_KEY))
    field, words = expectations(stack_file)
    assert field in message and words in message


@pytest.mark.parametrize("key", BAD_KEYS.values(), ids=BAD_KEYS.keys())
def test_the_program_refuses_a_config_key_set_key_refuses(tmp_path, key):
    copy_known_project(tmp_path)
    config, _ = config_from_stack_file(tmp_path / "stacks" / "Pulumi.dev.yaml")
    message = refused_run(tmp_path, "dev", config | keys_config(key))
    assert "kimi-infra:moonshotApiKey" in message and "characters no API key has" in message


def test_the_program_refuses_one_key_for_both_providers(tmp_path):
    copy_known_project(tmp_path)
    config, _ = config_from_stack_file(tmp_path / "stacks" / "Pulumi.dev.yaml")
    message = refused_run(tmp_path, "dev", config | keys_config(CANARY_KEY, CANARY_KEY))
    assert "the same key is set for moonshot and kimi-code" in message


def target_props(project: Path, path: str) -> dict:
    """A ConfigTarget's inputs for a dev-stack file target at `path` (as a state of an older
    kimi-infra, written before the program checked paths, could hold them)."""
    spec = load_stack(project, "dev").spec
    target = {"name": "local", "kind": "file", "path": path}
    fields = json.loads(spec.model_dump_json(exclude_none=True))
    return {"spec": json.dumps({**fields, "targets": [target]}), "target": target,
            "location": str(project / path), "renderHash": "x", "keyVersions": {}}


def test_config_target_refuses_a_key_store_in_check_create_and_delete(tmp_path, capsys, monkeypatch):
    project = copy_known_project(tmp_path)
    monkeypatch.chdir(project)  # the providers find the project the engine runs in from their working folder
    store = project / DEV_STORE
    store.parent.mkdir(parents=True)
    store.write_text('{"kept": "the dev keys"}')
    props = target_props(project, "stacks/../" + DEV_STORE)
    provider = ConfigTargetProvider()

    failures = provider.check({}, props).failures
    assert [f.property for f in failures] == ["target"] and "secret store file" in failures[0].reason
    with pytest.raises(KimiInfraError, match="secret store file"):
        provider.create(props)
    provider.delete(str(store), props)  # `pulumi destroy` of such a state keeps the file and says why
    assert "kept, not removed" in capsys.readouterr().err
    assert store.read_text() == '{"kept": "the dev keys"}'
    assert provider.check({}, target_props(project, "out/openclaw.json5")).failures == []


@pytest.mark.parametrize("key", BAD_KEYS.values(), ids=BAD_KEYS.keys())
def test_api_key_secret_refuses_a_bad_key_shape_in_check_and_create(tmp_path, key, monkeypatch):
    project = copy_known_project(tmp_path)
    monkeypatch.chdir(project)
    spec = load_stack(project, "dev").spec
    props = {"stack": "dev", "provider": "moonshot", "configKey": "moonshotApiKey",
             "secretStore": spec.secretStore.model_dump(exclude_none=True), "apiKey": key}
    provider = ApiKeySecretProvider()
    failures = provider.check({}, props).failures
    assert [f.property for f in failures] == ["apiKey"]
    assert "kimi-infra:moonshotApiKey" in failures[0].reason and key.strip() not in failures[0].reason
    with pytest.raises(KimiInfraError):
        provider.create(props)
    assert not (project / DEV_STORE).exists()
    assert provider.check({}, {**props, "apiKey": CANARY_KEY}).failures == []
