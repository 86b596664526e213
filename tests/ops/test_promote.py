"""`promote`: only promoted fields change; comments, secure values and environment settings survive."""

from __future__ import annotations

import difflib
from pathlib import Path

import json5
import pytest

from kimi_infra.render import render_stack
from kimi_infra.stackfile import load_stack
from tests.support.project import copy_known_project, run_cli

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
    """The known stacks, with staging ahead of prod and a secure value in prod."""
    copy_known_project(tmp_path)
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


def test_staging_to_prod_changes_only_promoted_fields(project: Path, known_project: Path):
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
    assert load_stack(project, "prod").spec.targets == load_stack(known_project, "prod").spec.targets


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
    assert result.returncode == 2
    assert "refused" in result.stderr and "kimi-infra:primaryModel" in result.stderr
    assert "kimi-code/kimi-for-coding" in result.stderr
    assert prod_cn.read_bytes() == before


def test_dry_run_and_unconfirmed_write_nothing(project: Path):
    prod = project / "stacks" / "Pulumi.prod.yaml"
    before = prod.read_bytes()
    dry = promote(project, "--from", "staging", "--to", "prod", "--dry-run")
    assert dry.returncode == 0 and dry.stdout.startswith("--- prod/openclaw.json5 (before)")
    piped = promote(project, "--from", "staging", "--to", "prod", stdin="y\n")  # no terminal: no prompt
    assert piped.returncode == 2 and "pass --yes" in piped.stderr
    no_stdin = promote(project, "--from", "staging", "--to", "prod", stdin="")
    assert no_stdin.returncode == 2 and "pass --yes" in no_stdin.stderr
    assert prod.read_bytes() == before


def test_json_reports_the_plan_and_the_refusal(project: Path):
    import json

    prod = project / "stacks" / "Pulumi.prod.yaml"
    before = prod.read_bytes()
    dry = json.loads(promote(project, "--from", "staging", "--to", "prod", "--dry-run", "--json").stdout)
    assert dry["applied"] is False and dry["changedFields"] and dry["diff"].startswith("--- prod/")
    refused = promote(project, "--from", "staging", "--to", "prod", "--json")
    assert refused.returncode == 2 and json.loads(refused.stdout)["error"]["fix"].startswith("pass --yes")
    assert prod.read_bytes() == before
    done = json.loads(promote(project, "--from", "staging", "--to", "prod", "--yes", "--json").stdout)
    assert done["applied"] is True and prod.read_bytes() != before


def test_removed_fields_are_removed_in_the_target(project: Path, known_project: Path):
    assert promote(project, "--from", "staging", "--to", "prod", "--yes").returncode == 0
    back = promote(project, "--from", "dev", "--to", "prod", "--yes")
    assert back.returncode == 0, back.stderr
    assert rendered(project, "prod") == rendered(known_project, "prod")
