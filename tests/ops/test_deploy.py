"""`deploy`: the dev stack's main job without the Pulumi engine (local store + local file)."""

from __future__ import annotations

import json

from kimi_infra.secret import Secret
from kimi_infra.stackfile import load_stack
from kimi_infra.stores import open_store
from tests.support.project import dev_like, make_project, run_cli

MOONSHOT = "sk-deploy-moonshot-0123456789abcdef"
KIMICODE = "sk-deploy-kimicode-0123456789abcdef"
KEYS = {"MOONSHOT_API_KEY": MOONSHOT, "KIMICODE_API_KEY": KIMICODE}


def test_inline_deploy_stores_keys_once_and_writes_a_private_file(tmp_path):
    project = make_project(tmp_path, {"t": dev_like(keyMode="inline")})
    first = run_cli("--project-dir", str(project), "deploy", "--stack", "t", env=KEYS)
    assert first.returncode == 0, first.stderr
    assert "1 written" in first.stdout
    deployed = project / "out" / "openclaw.json5"
    assert deployed.stat().st_mode & 0o777 == 0o600
    assert MOONSHOT in deployed.read_text() and MOONSHOT not in first.stdout + first.stderr
    store_file = project / ".kimi-infra" / "t" / "secrets.json"
    assert store_file.stat().st_mode & 0o777 == 0o600 and json.loads(store_file.read_text())

    again = run_cli("--project-dir", str(project), "deploy", "--stack", "t", env=KEYS)
    assert again.returncode == 0 and "0 written, 1 unchanged" in again.stdout


def test_an_existing_key_is_not_overwritten_from_the_environment(tmp_path):
    project = make_project(tmp_path, {"t": dev_like(keyMode="inline")})
    spec = load_stack(project, "t").spec
    for name, key in (("moonshot", "sk-rotated-moonshot-key-000"), ("kimi-code", "sk-rotated-kimicode-key-000")):
        open_store(spec, name, project).ensure(Secret(key))
    result = run_cli("--project-dir", str(project), "deploy", "--stack", "t", env=KEYS)
    assert result.returncode == 0, result.stderr
    assert open_store(spec, "moonshot", project).get("current") == Secret("sk-rotated-moonshot-key-000")
    assert "sk-rotated-moonshot-key-000" in (project / "out" / "openclaw.json5").read_text()


def test_inline_deploy_without_any_key_fails_clearly(tmp_path):
    project = make_project(tmp_path, {"t": dev_like(keyMode="inline")})
    result = run_cli("--project-dir", str(project), "deploy", "--stack", "t",
                     env={"MOONSHOT_API_KEY": "", "KIMICODE_API_KEY": ""})
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1
    assert not (project / "out").exists()
