"""Every file in tests/bad_inputs/ is refused: exit 2, one line naming file, field and fix, nothing written.

Each file starts with `# expect-field: <field>` and `# expect: <words of the message>`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from kimi_infra.cli import cli
from tests.support.bad_inputs import BAD_INPUTS, expectations
from tests.support.project import dev_like, make_project, run_cli


def render_in_scratch_project(tmp_path: Path, stack_file: Path, env: dict | None = None):
    project = make_project(tmp_path, {})
    shutil.copy(stack_file, project / "stacks" / "Pulumi.bad.yaml")
    out = project / "out" / "openclaw.json5"
    result = CliRunner().invoke(cli, ["--project-dir", str(project), "render", "--stack", "bad", "--out", str(out)],
                                env=env)
    return result, out


def test_there_are_at_least_twenty_cases():
    assert len(BAD_INPUTS) >= 20


@pytest.mark.parametrize("stack_file", BAD_INPUTS, ids=lambda p: p.stem)
def test_bad_input_is_refused_with_one_clear_line(tmp_path, stack_file):
    field, words = expectations(stack_file)
    result, out = render_in_scratch_project(tmp_path, stack_file)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert "stacks/Pulumi.bad.yaml" in line
    assert f": {field}" in line, line
    assert words in line, line
    assert "fix: " in line
    assert "Traceback" not in result.output
    assert not out.exists() and not out.parent.exists()


def test_plain_text_key_is_never_echoed(tmp_path):
    result, _ = render_in_scratch_project(tmp_path, next(p for p in BAD_INPUTS if "plain_api_key" in p.name))
    assert "sk-plaintext-key-in-a-stack-file" not in result.output + result.stderr


def test_unknown_stack_lists_the_known_ones(known_project):
    result = run_cli("render", "--stack", "qa", "--out", "-", cwd=known_project)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: stacks/Pulumi.qa.yaml: stack: no stack named 'qa'; "
        "fix: use one of: dev, prod, prod-cn, staging (or create stacks/Pulumi.qa.yaml)")
    assert result.stdout == ""


def test_inline_mode_without_the_key_in_the_environment(tmp_path):
    project = make_project(tmp_path, {"t": dev_like(keyMode="inline")})
    result = run_cli("--project-dir", str(project), "render", "--stack", "t",
                     env={"MOONSHOT_API_KEY": "sk-only-one", "KIMICODE_API_KEY": ""})
    assert result.returncode == 2
    assert "KIMICODE_API_KEY" in result.stderr and "fix: export KIMICODE_API_KEY" in result.stderr
    assert "sk-only-one" not in result.stderr
    assert not (project / "build").exists()


def test_the_same_key_for_both_providers_is_refused(tmp_path):
    project = make_project(tmp_path, {"t": dev_like(keyMode="inline")})
    result = run_cli("--project-dir", str(project), "render", "--stack", "t",
                     env={"MOONSHOT_API_KEY": "sk-shared-key", "KIMICODE_API_KEY": "sk-shared-key"})
    assert result.returncode == 2
    assert "not interchangeable" in result.stderr and "sk-shared-key" not in result.stderr
