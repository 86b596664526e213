"""Fixtures of the ops tests (used by name, never imported)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.history import deploy_twice


@pytest.fixture
def two_deploys(aws, tmp_path: Path) -> tuple[Path, list[str]]:
    """The lab project deployed twice with different overrides; the two hashes, oldest first."""
    return deploy_twice(tmp_path)
