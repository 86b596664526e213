"""`deploy`'s plan: diff before writing, --preview, drift needs --yes, --prune, --json.

Real subprocess CLI runs, real files, a real moto_server for the SSM target; nothing patched.
"""

from __future__ import annotations

import json

import boto3
import pytest
import yaml

from kimi_infra.masking import mask_keys
from tests.support.project import CANARY_KEY, dev_like, make_project, run_cli

MOONSHOT = CANARY_KEY.replace("CANARY", "MOONSHOT")
KEYS = {"MOONSHOT_API_KEY": MOONSHOT, "KIMICODE_API_KEY": CANARY_KEY.replace("CANARY", "KIMICODE")}
PARAMETER = "/kimi-infra/t/openclaw-config"


def deploy(project, *args, env=None):
    return run_cli("--project-dir", str(project), "deploy", "--stack", "t", *args, env=env)


def test_preview_shows_the_diff_and_writes_nothing(tmp_path):
    project = make_project(tmp_path, {"t": dev_like()})
    result = deploy(project, "--preview")
    assert result.returncode == 0, result.stderr
    assert "target local" in result.stdout and "create" in result.stdout
    assert "+  models: {" in result.stdout or "+  models" in result.stdout
    assert "nothing written" in result.stderr
    assert not (project / "out").exists() and not (project / ".kimi-infra" / "t" / "deployed.json").exists()

    as_json = json.loads(deploy(project, "--preview", "--json").stdout)
    assert as_json["applied"] is False and as_json["targets"][0]["action"] == "create"
    assert not (project / "out").exists()


def test_drift_is_shown_and_needs_yes(tmp_path):
    project = make_project(tmp_path, {"t": dev_like()})
    assert deploy(project).returncode == 0
    deployed = project / "out" / "openclaw.json5"
    edited = deployed.read_text().replace('"merge"', '"replace"')
    deployed.write_text(edited)

    refused = deploy(project)
    assert refused.returncode == 1
    assert "drifted since the last deploy" in refused.stdout and '-    mode: "replace"' in refused.stdout
    assert "--yes" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    assert deployed.read_text() == edited  # nothing written

    failure = json.loads(deploy(project, "--json").stdout)
    assert failure["exitCode"] == 1 and "--yes" in failure["error"]["fix"]
    assert deployed.read_text() == edited

    forced = deploy(project, "--yes", "--json")
    assert forced.returncode == 0, forced.stderr
    result = json.loads(forced.stdout)
    assert result["applied"] is True and result["outcomes"] == {"local": "written"}
    assert deployed.read_text() != edited
    assert deploy(project).returncode == 0  # in sync again: no drift, nothing to confirm


def test_inline_diff_masks_the_keys(tmp_path):
    project = make_project(tmp_path, {"t": dev_like(keyMode="inline")})
    assert deploy(project, env=KEYS).returncode == 0
    deployed = project / "out" / "openclaw.json5"
    deployed.write_text(deployed.read_text().replace("kimi-k2-thinking", "kimi-k2-edited"))
    result = deploy(project, "--preview", env=KEYS)
    assert result.returncode == 0, result.stderr
    assert "kimi-k2-edited" in result.stdout
    assert MOONSHOT not in result.stdout + result.stderr

    restored = deployed.read_text().replace("kimi-k2-edited", "kimi-k2-thinking")
    deployed.write_text(restored.replace(MOONSHOT, "sk-other"))
    key_only = deploy(project, "--preview", "--json", env=KEYS)
    target = json.loads(key_only.stdout)["targets"][0]
    assert target["action"] == "update" and target["diff"] == ""  # masked, the two sides are equal
    assert "sk-other" not in key_only.stdout and MOONSHOT not in key_only.stdout
    assert "only masked values differ" in deploy(project, "--preview", env=KEYS).stdout


def test_mask_keys_hides_env_values_and_literal_api_keys_but_not_references():
    text = ('env: { vars: { MOONSHOT_API_KEY: "sk-1", "KIMICODE_API_KEY": "sk-\\"2" } },\n'
            'apiKey: "sk-3",\napiKey: "${MOONSHOT_API_KEY}",\n')
    masked = mask_keys(text)
    assert "sk-" not in masked and masked.count('"<masked>"') == 3
    assert 'apiKey: "${MOONSHOT_API_KEY}"' in masked


@pytest.mark.usefixtures("aws")
def test_a_removed_key_holding_target_is_reported_and_pruned(tmp_path):
    ssm_target = {"name": "param", "kind": "ssm", "parameter": PARAMETER, "region": "us-east-1"}
    file_target = {"name": "local", "kind": "file", "path": "out/openclaw.json5"}
    project = make_project(tmp_path, {"t": dev_like(keyMode="inline", targets=[file_target, ssm_target])})
    assert deploy(project, env=KEYS).returncode == 0
    ssm = boto3.client("ssm", region_name="us-east-1")
    assert ssm.get_parameter(Name=PARAMETER)["Parameter"]["Type"] == "SecureString"

    stack_file = project / "stacks" / "Pulumi.t.yaml"
    stack_file.write_text(yaml.safe_dump({"config": dev_like(keyMode="inline", targets=[file_target])}))
    kept = deploy(project, env=KEYS)
    assert kept.returncode == 0, kept.stderr
    assert f"ssm:us-east-1:{PARAMETER}  no longer in the stack" in kept.stdout
    assert "holds API keys" in kept.stderr and "--prune" in kept.stderr
    assert ssm.get_parameter(Name=PARAMETER)  # still there without --prune

    pruned = deploy(project, "--prune", "--json", env=KEYS)
    assert pruned.returncode == 0, pruned.stderr
    assert json.loads(pruned.stdout)["removedFromStack"] == [
        {"name": "param", "location": f"ssm:us-east-1:{PARAMETER}", "holdsKeys": True, "keptBecause": None,
         "pruned": True}]
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        ssm.get_parameter(Name=PARAMETER)
    assert "no longer in the stack" not in deploy(project, env=KEYS).stdout  # forgotten once removed
