"""`promote`: only promoted fields change; comments, secure values and environment settings survive."""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path

import json5
import pytest

from kimi_infra.render import render_stack
from kimi_infra.stackfile import load_stack
from tests.helpers import PROJECT_DIR, run_cli

SECURE_LINES = "  kimi-infra:moonshotApiKey:\n    secure: v1:c2VjcmV0LWNpcGhlcnRleHQtZm9yLXRlc3Rz\n"

STAGING_CHANGES = """  kimi-infra:modelOverrides:
    moonshot/kimi-k2-thinking:
      contextWindow: 131072
      cost: {input: 0.6, output: 2.5}
    kimi-code/kimi-for-coding:
      maxTokens: 16384
  kimi-infra:aliases:
    moonshot/kimi-k2-turbo-preview: K2 Fast
  kimi-infra:extraModels:
    moonshot:
      - {id: kimi-k2-0711-preview, name: Kimi K2 0711, contextWindow: 131072, maxTokens: 8192}
"""


# What prod gains: the promoted fields in canonical order, dumped in block style.
PROMOTED_INTO_PROD = """+   kimi-infra:modelOverrides:
+     moonshot/kimi-k2-thinking:
+       contextWindow: 131072
+       cost:
+         input: 0.6
+         output: 2.5
+     kimi-code/kimi-for-coding:
+       maxTokens: 16384
+   kimi-infra:extraModels:
+     moonshot:
+       - id: kimi-k2-0711-preview
+         name: Kimi K2 0711
+         contextWindow: 131072
+         maxTokens: 8192
+   kimi-infra:aliases:
+     moonshot/kimi-k2-turbo-preview: K2 Fast
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the real project's stacks, with staging ahead of prod and a secure value in prod."""
    shutil.copy(PROJECT_DIR / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    shutil.copytree(PROJECT_DIR / "stacks", tmp_path / "stacks")
    staging = tmp_path / "stacks" / "Pulumi.staging.yaml"
    staging.write_text(staging.read_text() + STAGING_CHANGES)
    for name in ("prod", "prod-cn"):
        path = tmp_path / "stacks" / f"Pulumi.{name}.yaml"
        path.write_text(path.read_text() + SECURE_LINES)
    return tmp_path


def promote(project: Path, *args: str, stdin: str | None = None):
    return run_cli("--project-dir", str(project), "promote", *args, stdin=stdin)


def rendered(project: Path, stack: str) -> str:
    loaded = load_stack(project, stack)
    return render_stack(loaded.spec).text


def test_staging_to_prod_changes_only_promoted_fields(project: Path):
    prod = project / "stacks" / "Pulumi.prod.yaml"
    before_text, before_render = prod.read_text(), rendered(project, "prod")
    result = promote(project, "--from", "staging", "--to", "prod", "--yes")
    assert result.returncode == 0, result.stderr
    after_text = prod.read_text()
    changes = [line for line in difflib.ndiff(before_text.splitlines(), after_text.splitlines())
               if line.startswith(("+ ", "- "))]
    assert "".join(line + "\n" for line in changes) == PROMOTED_INTO_PROD  # only additions, in one place
    for line in before_text.splitlines():
        if line.lstrip().startswith("#") or "secure:" in line:
            assert line in after_text.splitlines()
    expected_diff = "".join(difflib.unified_diff(
        before_render.splitlines(keepends=True), rendered(project, "prod").splitlines(keepends=True),
        fromfile="prod/openclaw.json5 (before)", tofile="prod/openclaw.json5 (after)"))
    assert result.stdout == expected_diff
    config = json5.loads(rendered(project, "prod"))
    assert config["agents"]["defaults"]["models"]["moonshot/kimi-k2-turbo-preview"] == {"alias": "K2 Fast"}
    assert load_stack(project, "prod").spec.targets == load_stack(PROJECT_DIR, "prod").spec.targets


def test_promote_is_idempotent(project: Path):
    assert promote(project, "--from", "staging", "--to", "prod", "--yes").returncode == 0
    text = (project / "stacks" / "Pulumi.prod.yaml").read_text()
    again = promote(project, "--from", "staging", "--to", "prod", "--yes")
    assert again.returncode == 0 and "nothing to promote" in again.stderr
    assert (project / "stacks" / "Pulumi.prod.yaml").read_text() == text


def test_into_prod_cn_keeps_the_china_endpoint_and_drops_kimi_code(project: Path):
    result = promote(project, "--from", "staging", "--to", "prod-cn", "--yes")
    assert result.returncode == 0, result.stderr
    config = json5.loads(rendered(project, "prod-cn"))
    assert config["models"]["providers"]["moonshot"]["baseUrl"] == "https://api.moonshot.cn/v1"
    assert set(config["models"]["providers"]) == {"moonshot"}
    assert config["models"]["providers"]["moonshot"]["models"][2]["contextWindow"] == 131072
    assert "secure: v1:c2VjcmV0" in (project / "stacks" / "Pulumi.prod-cn.yaml").read_text()


def test_kimi_code_primary_into_prod_cn_is_refused(project: Path):
    staging = project / "stacks" / "Pulumi.staging.yaml"
    staging.write_text(staging.read_text().replace("primaryModel: moonshot/kimi-k2-0905-preview",
                                                   "primaryModel: kimi-code/kimi-for-coding"))
    prod_cn = project / "stacks" / "Pulumi.prod-cn.yaml"
    before = prod_cn.read_bytes()
    result = promote(project, "--from", "staging", "--to", "prod-cn", "--yes")
    assert result.returncode == 1
    assert "refused" in result.stderr and "kimi-infra:primaryModel" in result.stderr
    assert "kimi-code/kimi-for-coding" in result.stderr
    assert prod_cn.read_bytes() == before


def test_dry_run_and_unconfirmed_write_nothing(project: Path):
    prod = project / "stacks" / "Pulumi.prod.yaml"
    before = prod.read_bytes()
    dry = promote(project, "--from", "staging", "--to", "prod", "--dry-run")
    assert dry.returncode == 0 and dry.stdout.startswith("--- prod/openclaw.json5 (before)")
    declined = promote(project, "--from", "staging", "--to", "prod", stdin="n\n")
    assert declined.returncode == 1
    no_stdin = promote(project, "--from", "staging", "--to", "prod", stdin="")
    assert no_stdin.returncode == 1
    assert prod.read_bytes() == before


def test_removed_fields_are_removed_in_the_target(project: Path):
    assert promote(project, "--from", "staging", "--to", "prod", "--yes").returncode == 0
    back = promote(project, "--from", "dev", "--to", "prod", "--yes")
    assert back.returncode == 0, back.stderr
    assert rendered(project, "prod") == rendered(PROJECT_DIR, "prod")
