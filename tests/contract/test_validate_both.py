"""`validate --openclaw PATH`: our verdict and the real client's agree on the legacy env block and an
over-limit number; and our render joins a gateway config through `openclaw config patch --dry-run`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.openclaw import OpenClaw, render_mode
from tests.support.project import run_cli

pytestmark = pytest.mark.contract

GATEWAY_CONFIG = """{
  // a gateway's own config: sections kimi-infra never renders
  gateway: { port: 18789, mode: "local" },
  agents: { defaults: { workspace: "~/work" } },
}
"""


def validate_both(openclaw: OpenClaw, config: Path, tmp_path: Path) -> dict:
    """Our `validate --json --openclaw` with the client in an isolated HOME, as the fixture runs it."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {"HOME": str(home), "TMPDIR": str(home), "OPENCLAW_STATE_DIR": str(home / "state")}
    result = run_cli("validate", "--json", "--openclaw", str(openclaw.launcher), str(config), env=env)
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)["files"][0]


def test_both_reject_the_legacy_env_block(openclaw, resolver_launcher, tmp_path):
    _, config = render_mode(tmp_path, "dev", "legacy-inline", resolver_launcher)
    verdict = validate_both(openclaw, config, tmp_path)
    assert verdict["ok"] is False and "legacy clawdbot block" in verdict["error"]
    assert verdict["openclaw"]["valid"] is False
    assert any(issue.startswith("env:") for issue in verdict["openclaw"]["issues"]), verdict


def test_both_reject_an_over_limit_number(openclaw, resolver_launcher, tmp_path):
    _, config = render_mode(tmp_path, "staging", "secretref", resolver_launcher)
    text = config.read_text()
    assert "timeoutMs: 15000" in text
    config.write_text(text.replace("timeoutMs: 15000", "timeoutMs: 120001"))
    verdict = validate_both(openclaw, config, tmp_path)
    assert verdict["ok"] is False and "timeoutMs" in verdict["error"]
    assert verdict["openclaw"]["valid"] is False
    assert [i.split(":")[0] for i in verdict["openclaw"]["issues"]] == ["secrets.providers.kimi-infra.timeoutMs"]


def test_both_accept_a_render(openclaw, resolver_launcher, tmp_path):
    _, config = render_mode(tmp_path, "dev", "reference", resolver_launcher)
    verdict = validate_both(openclaw, config, tmp_path)
    assert verdict["ok"] is True and verdict["openclaw"]["valid"] is True, verdict


def test_our_render_patches_into_a_gateway_config(openclaw, resolver_launcher, tmp_path):
    """README "Joining your gateway config": `openclaw config patch --file <render> --dry-run`."""
    _, render = render_mode(tmp_path, "dev", "reference", resolver_launcher)
    gateway = tmp_path / "gateway" / "openclaw.json"
    gateway.parent.mkdir()
    gateway.write_text(GATEWAY_CONFIG)
    before = gateway.read_text()
    # Reference mode: the gateway's environment holds the keys, and the dry run checks they resolve.
    keys = {"MOONSHOT_API_KEY": "sk-gateway-env-moonshot", "KIMICODE_API_KEY": "sk-gateway-env-kimicode"}
    patched = openclaw.run(gateway, "config", "patch", "--file", str(render), "--dry-run", "--json", env=keys)
    assert patched.returncode == 0 and patched.data["ok"] is True, patched
    assert gateway.read_text() == before  # a dry run writes nothing
    applied = openclaw.run(gateway, "config", "patch", "--file", str(render), env=keys)  # one validated write
    assert applied.returncode == 0, applied
    text = gateway.read_text()
    assert "18789" in text and "~/work" in text and "kimi-k2-0905-preview" in text  # both kept


