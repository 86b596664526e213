"""Where the gateway may `$include` from, as OpenClaw 2026.9.6 decides it (resolveIncludeRoots): the
folder of its config file (OPENCLAW_CONFIG_PATH, else OPENCLAW_STATE_DIR/openclaw.json, else
~/.openclaw/openclaw.json) and each `:`-separated OPENCLAW_INCLUDE_ROOTS entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from kimi_infra.errors import KimiInfraError
from kimi_infra.ops.agent import check_includable, gateway_config_path


def test_the_config_folder_and_the_include_roots_are_includable(tmp_path):
    env = {"OPENCLAW_CONFIG_PATH": str(tmp_path / "gw" / "openclaw.json"),
           "OPENCLAW_INCLUDE_ROOTS": f"{tmp_path / 'shared'}:{tmp_path / 'other'}"}
    check_includable(tmp_path / "gw" / "models.json5", env)
    check_includable(tmp_path / "gw" / "sub" / "models.json5", env)
    check_includable(tmp_path / "other" / "models.json5", env)
    with pytest.raises(KimiInfraError, match="outside the folders the gateway may include from"):
        check_includable(tmp_path / "elsewhere" / "models.json5", env)
    with pytest.raises(KimiInfraError):  # `..` does not climb out either
        check_includable(tmp_path / "gw" / ".." / "elsewhere.json5", env)


def test_the_config_path_is_found_as_openclaw_finds_it(tmp_path):
    assert gateway_config_path({"OPENCLAW_CONFIG_PATH": "/x/y.json", "OPENCLAW_STATE_DIR": "/s"}) == Path("/x/y.json")
    assert gateway_config_path({"OPENCLAW_STATE_DIR": "/s"}) == Path("/s/openclaw.json")
    assert gateway_config_path({}) == Path.home() / ".openclaw" / "openclaw.json"
