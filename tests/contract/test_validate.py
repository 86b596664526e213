"""Every stack in every key mode, rendered by our CLI, passes the real `openclaw config validate`.

The validator runs with an empty environment, so a `${VAR}` it warns about is one that the
config itself does not supply: inline mode must supply both keys, secretref mode needs none, and
reference mode leaves exactly the enabled providers' variables to the gateway's environment.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from kimi_infra.catalog import PROVIDERS
from tests.support.openclaw import CACHE_ENV, SKIP_ENV, STACKS, render_mode
from tests.support.ports import free_port
from tests.support.project import PROJECT_DIR, known_stack_config

pytestmark = pytest.mark.contract


def provider_env_vars(stack: str) -> set[str]:
    return {PROVIDERS[name].env_var for name in known_stack_config(stack)["kimi-infra:providers"]}


@pytest.mark.parametrize("mode", ["reference", "inline", "secretref"])
@pytest.mark.parametrize("stack", STACKS)
def test_openclaw_accepts_every_stack_in_every_key_mode(openclaw, resolver_launcher, tmp_path, stack, mode):
    _, config = render_mode(tmp_path, stack, mode, resolver_launcher)
    run = openclaw.validate(config)
    assert run.returncode == 0 and run.data and run.data["valid"] is True, run
    expected = provider_env_vars(stack) if mode == "reference" else set()
    assert run.missing_env_vars() == expected, run
    if mode == "secretref":
        assert not [w for w in run.data["warnings"] if w["path"].endswith(".apiKey")], run


@pytest.mark.parametrize("stack", STACKS)
def test_openclaw_rejects_the_legacy_clawdbot_env_block(openclaw, resolver_launcher, tmp_path, stack):
    _, config = render_mode(tmp_path, stack, "legacy-inline", resolver_launcher)
    run = openclaw.validate(config)
    assert run.returncode == 1 and run.data and run.data["valid"] is False, run
    assert any(issue["path"] == "env" and "Unrecognized key" in issue["message"] for issue in run.data["issues"]), run


def test_openclaw_rejects_a_broken_render(openclaw, resolver_launcher, tmp_path):
    """The negative control: the same check fails on a render broken past our own model."""
    _, config = render_mode(tmp_path, "dev", "reference", resolver_launcher)
    text = config.read_text()
    assert "contextWindow: 256000," in text
    config.write_text(text.replace("contextWindow: 256000,", "contextWindow: -1,", 1))
    run = openclaw.validate(config)
    assert run.returncode == 1 and run.data and run.data["valid"] is False, run
    assert [issue["path"] for issue in run.data["issues"]] == ["models.providers.moonshot.models.0.contextWindow"], run


def run_offline(cache, **env: str) -> subprocess.CompletedProcess:
    """One contract test in a nested pytest, with an empty OpenClaw cache and an unreachable registry."""
    base = {k: v for k, v in os.environ.items() if k != SKIP_ENV}
    registry = {CACHE_ENV: str(cache), "NPM_CONFIG_REGISTRY": f"http://127.0.0.1:{free_port()}/",
                "NPM_CONFIG_FETCH_RETRIES": "0"}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           f"{__file__}::test_openclaw_rejects_a_broken_render"],
                          env={**base, **registry, **env}, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=300)


def test_without_a_registry_the_contract_tests_fail_unless_told_to_skip(tmp_path):
    failed = run_offline(tmp_path / "cache")
    assert failed.returncode == 1, failed.stdout
    assert "cannot install the OpenClaw CLI (install_openclaw.sh: npm could not install" in failed.stdout
    skipped = run_offline(tmp_path / "cache", **{SKIP_ENV: "1"})
    assert skipped.returncode == 0 and "1 skipped" in skipped.stdout, skipped.stdout
