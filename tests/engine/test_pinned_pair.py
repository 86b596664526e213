"""The engine and SDK that run are the pair `engine/pulumi-pair.env` names (README "The engine/SDK pair")."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.project import PROJECT_DIR
from tests.support.pulumi_engine import pulumi_pair

pytestmark = pytest.mark.engine


def test_the_engine_and_sdk_that_run_are_the_pair(engine_bin: Path):
    """The built CLI reports the pair's engine version; the program's venv (Pulumi.yaml: .venv) the SDK's."""
    versions = pulumi_pair()
    reported = subprocess.run([str(engine_bin / "pulumi"), "version"], capture_output=True, text=True, check=True)
    assert reported.stdout.strip() == f"v{versions['PULUMI_ENGINE_VERSION']}"
    program_python = PROJECT_DIR / ".venv" / "bin" / "python"
    sdk = subprocess.run([str(program_python), "-c", "import importlib.metadata as m; print(m.version('pulumi'))"],
                         capture_output=True, text=True, check=True)
    assert sdk.stdout.strip() == versions["PULUMI_SDK_VERSION"]
