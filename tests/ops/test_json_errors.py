"""With --json, every command's error is one document whose `where`, `problem` and `fix` are all set
(none null, no "fix:" folded into the problem): one failure per command, real subprocess CLI runs on a
scratch project with a local store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kimi_infra.cli import COMMANDS
from kimi_infra.secret import Secret
from kimi_infra.stackfile import load_stack
from kimi_infra.stores import open_store
from tests.support.project import CANARY_KEY, dev_like, make_project, run_cli

UNREACHABLE = "http://127.0.0.1:9/v1"  # the discard port: nothing listens there

# command -> (arguments, stdin): each fails for a reason the user can fix.
FAILURES: dict[str, tuple[tuple[str, ...], str | None]] = {
    "deploy": (("deploy", "-s", "clash"), None),  # a file target that is the stack file itself
    "history": (("history", "-s", "t", "--target", "nope"), None),
    "promote": (("promote", "--from", "t", "--to", "nosuch"), None),
    "rollback": (("rollback", "-s", "t", "-p", "moonshot"), None),  # no previous version
    "rotate": (("rotate", "-s", "t", "-p", "kimi-code", "--key-stdin", "--skip-verify"), CANARY_KEY),  # no secret
    "set-key": (("set-key", "-s", "t", "-p", "moonshot", "--key-stdin", "--skip-verify"), CANARY_KEY),  # exists
    "catalog-check": (("catalog-check", "-s", "t", "-p", "moonshot", "--base-url", UNREACHABLE), None),
    "doctor": (("doctor", "-s", "nosuch"), None),
    "status": (("status", "-s", "nosuch"), None),
    "validate": (("validate", "stacks/Pulumi.t.yaml", "--openclaw", "/nonexistent/openclaw"), None),
}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("json-errors")
    clash = dev_like(targets=[{"name": "local", "kind": "file", "path": "stacks/Pulumi.clash.yaml"}])
    project = make_project(root, {"t": dev_like(), "clash": clash})
    open_store(load_stack(project, "t").spec, "moonshot", project).ensure(Secret(CANARY_KEY))
    return project


@pytest.mark.parametrize("command", sorted(FAILURES))
def test_every_json_error_names_where_problem_and_fix(project: Path, command: str):
    args, stdin = FAILURES[command]
    result = run_cli("--project-dir", str(project), *args, "--json", cwd=project, stdin=stdin)
    assert result.returncode == 2, result.stdout + result.stderr
    error = json.loads(result.stdout)["error"]  # exactly one document (status's own report, for status)
    assert all(error.get(field) for field in ("where", "problem", "fix")), error
    assert "fix:" not in error["problem"] and "fix:" not in error["fix"]
    assert result.stderr.strip().splitlines()[-1] == f"error: {error['where']}: {error['problem']}; fix: {error['fix']}"
    assert CANARY_KEY not in result.stdout + result.stderr


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_usage_error_with_json_is_one_document_too(tmp_path: Path, command: str):
    """click's usage errors (an unknown option) keep click's usage text on stderr and, with --json,
    also print the one JSON error document every other error prints."""
    result = run_cli(command, "--no-such-option", "--json", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    document = json.loads(result.stdout)
    assert document["exitCode"] == 2
    assert document["error"]["where"] == f"kimi-infra {command}"
    assert "--no-such-option" in document["error"]["problem"]
    assert document["error"]["fix"] == f"see `kimi-infra {command} --help`"


def test_a_usage_error_without_json_prints_no_document(tmp_path: Path):
    result = run_cli("status", "--no-such-option", cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == "" and "No such option" in result.stderr
