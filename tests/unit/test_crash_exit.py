"""A crash (an exception that is not one of our errors: a bug) through the real CLI: exit 2 and one
line naming the exception's type, never its text (it may quote a key); the traceback only with the
global --debug (issue 20, finding 9 / Build 8)."""

from __future__ import annotations

import json

import pytest

from tests.support.project import CANARY_KEY, copy_known_project, run_cli

# A hand-edited dev store whose version date holds the key: parsing it raises a ValueError that
# quotes the text it could not parse, the key.
KEY_IN_THE_DATE = {"format": 1, "secrets": {"kimi-infra/dev/moonshot": {"versions": {
    "v1": {"stages": ["current"], "created": CANARY_KEY, "value": CANARY_KEY}}}}}


@pytest.fixture
def project(tmp_path):
    root = copy_known_project(tmp_path, ("dev",))
    store = root / ".kimi-infra" / "dev" / "secrets.json"
    store.parent.mkdir(parents=True)
    store.write_text(json.dumps(KEY_IN_THE_DATE))
    store.chmod(0o600)
    return root


def test_a_crash_is_exit_2_and_one_line_naming_the_exception_type(project):
    result = run_cli("--project-dir", str(project), "status", "--stack", "dev")
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [result.stderr.splitlines()[-1]] and len(errors) == 1, result.stderr
    assert "crashed with ValueError at kimi_infra/" in errors[0] and "--debug" in errors[0]
    assert "Traceback" not in result.stderr
    assert CANARY_KEY not in result.stdout + result.stderr


def test_a_crash_with_json_is_one_json_error_document(project):
    result = run_cli("--project-dir", str(project), "status", "--stack", "dev", "--json")
    assert result.returncode == 2
    document = json.loads(result.stdout)
    assert document["exitCode"] == 2 and "ValueError" in document["error"]["problem"]
    assert CANARY_KEY not in result.stdout + result.stderr


def test_debug_adds_the_traceback(project):
    result = run_cli("--project-dir", str(project), "--debug", "status", "--stack", "dev")
    assert result.returncode == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("error: kimi-infra status: crashed with ValueError")


def test_a_deploy_record_entry_without_spec_is_not_a_traceback(tmp_path):
    """The case the issue found: exit 1 with a traceback, which the exit-code table calls a finding."""
    project = copy_known_project(tmp_path, ("dev",))
    assert run_cli("--project-dir", str(project), "deploy", "--stack", "dev").returncode == 0
    record_file = project / ".kimi-infra" / "dev" / "deployed.json"
    record = json.loads(record_file.read_text())
    record["targets"][str(project / "gone.json5")] = {"name": "gone", "holdsKeys": False, "contentHash": None}
    record_file.write_text(json.dumps(record))
    result = run_cli("--project-dir", str(project), "deploy", "--stack", "dev", "--prune", "--yes")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: ")


def test_usage_errors_stay_clicks(tmp_path):
    result = run_cli("--project-dir", str(copy_known_project(tmp_path, ("dev",))), "status", "--no-such-option")
    assert result.returncode == 2 and "No such option" in result.stderr and "crashed" not in result.stderr
