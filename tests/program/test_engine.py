"""The real `pulumi up`, through pulumi.automation with a local backend, when a `pulumi` binary exists.

The Pulumi CLI engine cannot be installed on our CI machines, so this is skipped there (with the
reason); the mocked-engine tests in test_program.py cover the program everywhere else.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.helpers import PROJECT_DIR

pytestmark = pytest.mark.engine


@pytest.mark.skipif(shutil.which("pulumi") is None,
                    reason="no `pulumi` binary on PATH (the engine is not installable here)")
def test_real_pulumi_up_of_the_dev_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from pulumi import automation as auto

    project = tmp_path / "project"
    shutil.copytree(PROJECT_DIR, project, ignore=shutil.ignore_patterns(".venv", ".git", "build", ".kimi-infra"))
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "test-only-passphrase")
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{tmp_path / 'state'}")
    (tmp_path / "state").mkdir()
    stack = auto.create_or_select_stack(stack_name="dev", work_dir=str(project))
    stack.set_config("kimi-infra:moonshotApiKey", auto.ConfigValue("sk-engine-test-moonshot", secret=True))
    stack.set_config("kimi-infra:kimicodeApiKey", auto.ConfigValue("sk-engine-test-kimicode", secret=True))
    first = stack.up(on_output=print)
    assert first.summary.result == "succeeded"
    assert (project / ".kimi-infra" / "dev" / "openclaw.json5").is_file()
    second = stack.preview()
    assert second.change_summary.get("same", 0) == sum(second.change_summary.values())
