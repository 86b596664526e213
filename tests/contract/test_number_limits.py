"""Our number limits agree with OpenClaw's schema at the edges: the largest values we accept pass
`openclaw config validate`, and values OpenClaw refuses (a 400-digit contextWindow reads as
Infinity there, zero, negatives) are refused by our own `validate` too."""

from __future__ import annotations

import pytest

from kimi_infra.errors import SpecError
from kimi_infra.models import JS_MAX_SAFE_INTEGER
from kimi_infra.validate import validate_text
from tests.support.project import dev_like, make_project, run_cli

pytestmark = pytest.mark.contract

THINKING = "moonshot/kimi-k2-thinking"


def render_edge(tmp_path):
    """The dev-like stack with the largest numbers we accept, rendered by our CLI."""
    overrides = {THINKING: {"contextWindow": JS_MAX_SAFE_INTEGER, "maxTokens": JS_MAX_SAFE_INTEGER,
                            "cost": {"input": JS_MAX_SAFE_INTEGER, "output": 0.5}}}
    project = make_project(tmp_path / "project", {"edge": dev_like(modelOverrides=overrides)})
    out = tmp_path / "edge.json5"
    result = run_cli("--project-dir", str(project), "render", "--stack", "edge", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


def test_the_largest_numbers_we_accept_pass_openclaw(openclaw, tmp_path):
    config = render_edge(tmp_path)
    assert f"contextWindow: {JS_MAX_SAFE_INTEGER}," in config.read_text()
    run = openclaw.validate(config)
    assert run.returncode == 0 and run.data and run.data["valid"] is True, run


@pytest.mark.parametrize("value", ["9" * 400, "0", "-1"], ids=["400 digits", "zero", "negative"])
def test_numbers_openclaw_refuses_we_refuse_too(openclaw, tmp_path, value):
    config = render_edge(tmp_path)
    text = config.read_text().replace(f"contextWindow: {JS_MAX_SAFE_INTEGER},", f"contextWindow: {value},", 1)
    config.write_text(text)

    run = openclaw.validate(config)
    assert run.returncode == 1 and run.data and run.data["valid"] is False, run
    assert any(issue["path"].endswith(".contextWindow") for issue in run.data["issues"]), run
    with pytest.raises(SpecError) as error:
        validate_text(text)
    assert error.value.field.endswith(".contextWindow")
