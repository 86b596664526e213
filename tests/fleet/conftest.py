"""Fixtures of the fleet tests (used by name, never imported)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def gateways(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder every test gateway may `$include` from (OPENCLAW_INCLUDE_ROOTS), as the agents check."""
    root = tmp_path / "gateways"
    root.mkdir()
    monkeypatch.setenv("OPENCLAW_INCLUDE_ROOTS", str(root))
    monkeypatch.setenv("OPENCLAW_CONFIG_PATH", str(tmp_path / "no-gateway" / "openclaw.json"))
    return root
