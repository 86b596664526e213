"""`validate`: our model's verdict, the legacy env block, number limits, the resolver on this host, --json.

The real CLI in a subprocess on files rendered by the real CLI (the contract tests add OpenClaw's verdict).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.project import CANARY_KEY, dev_like, make_project, run_cli

SECRETREF = {"keyMode": "secretref", "resolver": {"command": "/nonexistent/kimi-infra-resolve"},
             "secretStore": {"kind": "local", "path": "/var/lib/kimi-infra/secrets.json"}}
KEYS = {"MOONSHOT_API_KEY": CANARY_KEY, "KIMICODE_API_KEY": CANARY_KEY.replace("CANARY", "KIMICODE")}


def rendered(tmp_path: Path, env: dict | None = None, **overrides) -> Path:
    project = make_project(tmp_path, {"t": dev_like(**overrides)})
    out = tmp_path / "openclaw.json5"
    result = run_cli("--project-dir", str(project), "render", "--stack", "t", "--out", str(out), env=env)
    assert result.returncode == 0, result.stderr
    return out


def test_a_render_passes_and_json_says_so(tmp_path):
    out = rendered(tmp_path)
    lines = run_cli("validate", str(out))
    assert lines.returncode == 0 and "(2 providers, 5 models;" in lines.stdout
    document = json.loads(run_cli("validate", str(out), "--json").stdout)
    assert document["ok"] is True and document["files"][0]["providers"] == 2


def test_the_legacy_env_block_fails_unless_allowed(tmp_path):
    out = rendered(tmp_path, env=KEYS, keyMode="inline", legacyEnvBlock=True)
    refused = run_cli("validate", str(out))
    assert refused.returncode == 1 and "legacy clawdbot block" in refused.stderr
    assert CANARY_KEY not in refused.stdout + refused.stderr
    failure = json.loads(run_cli("validate", str(out), "--json").stdout)
    assert failure["ok"] is False and "legacyEnvBlock" in failure["files"][0]["error"]
    allowed = run_cli("validate", "--allow-legacy", str(out))
    assert allowed.returncode == 0 and "warning:" in allowed.stderr and "ok:" in allowed.stdout


@pytest.mark.parametrize(("old", "new", "field"), [
    ("maxTokens: 8192", "maxTokens: 0", "maxTokens"),
    ("timeoutMs: 15000", "timeoutMs: 120001", "timeoutMs"),
])
def test_numbers_over_openclaws_limits_fail(tmp_path, old, new, field):
    out = rendered(tmp_path, **SECRETREF)
    text = out.read_text()
    assert old in text
    out.write_text(text.replace(old, new, 1))
    result = run_cli("validate", str(out))
    assert result.returncode == 1 and field in result.stderr and "fix: use a number" in result.stderr


def test_a_missing_resolver_command_is_a_warning(tmp_path):
    out = rendered(tmp_path, **SECRETREF)
    result = run_cli("validate", str(out))
    assert result.returncode == 0
    assert "/nonexistent/kimi-infra-resolve does not exist on this host" in result.stderr
    assert "install-resolver" in result.stderr


def test_a_gateway_config_is_pointed_at_openclaw_not_the_stack_file_reference(tmp_path):
    out = rendered(tmp_path)
    out.write_text(out.read_text().replace("{\n", "{\n  gateway: { port: 18789 },\n", 1))
    result = run_cli("validate", str(out))
    assert result.returncode == 1 and "--openclaw PATH" in result.stderr and "stack file" not in result.stderr


def test_an_endless_file_is_refused_in_one_line_not_read_whole():
    """`validate /dev/zero` read until the OOM killer came; files are read up to a bound."""
    result = run_cli("validate", "/dev/zero")
    assert result.returncode == 1
    assert (result.stdout + result.stderr).strip() == ("invalid: /dev/zero: document: is over 16 Mi characters: not a "
                                                       "file kimi-infra reads; fix: check the path")
