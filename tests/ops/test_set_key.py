"""`set-key`: the first key from stdin, verified against a fake provider, a second one refused.

Real subprocess CLI runs, a real HTTP fake provider on loopback, the real local store.
"""

from __future__ import annotations

import json

import pytest

from kimi_infra.secret import Secret
from kimi_infra.stackfile import load_stack
from kimi_infra.stores import open_store
from tests.support.fake_provider import FakeProvider
from tests.support.project import CANARY_KEY, dev_like, make_project, run_cli

KEY = CANARY_KEY.replace("CANARY", "FIRST")
OTHER = CANARY_KEY.replace("CANARY", "SECOND")


@pytest.fixture
def fake():
    with FakeProvider() as server:
        server.accept("moonshot", KEY, OTHER)
        yield server


@pytest.fixture
def project(tmp_path):
    return make_project(tmp_path, {"t": dev_like(keyMode="inline")})


def set_key(project, fake, key, *extra):
    return run_cli("--project-dir", str(project), "set-key", "--stack", "t", "--provider", "moonshot",
                   "--key-stdin", "--verify-base-url", fake.base_url("moonshot"), *extra, stdin=key)


def stored(project):
    spec = load_stack(project, "t").spec
    store = open_store(spec, "moonshot", project)
    return store.get("current") if store.exists() else None


def test_stores_the_first_key_from_stdin_verified(project, fake):
    result = set_key(project, fake, KEY + "\n", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["secret"] == "kimi-infra/t/moonshot" and document["versionId"]
    assert document["verifiedAt"] == fake.base_url("moonshot")
    assert stored(project) == Secret(KEY)
    assert [(r.path, r.status) for r in fake.requests] == [("/moonshot/v1/models", 200)]
    assert KEY not in result.stdout + result.stderr
    assert (project / ".kimi-infra" / "t" / "secrets.json").stat().st_mode & 0o777 == 0o600


def test_refuses_a_second_key_and_says_use_rotate(project, fake):
    assert set_key(project, fake, KEY).returncode == 0
    second = set_key(project, fake, OTHER)
    assert second.returncode != 0
    assert "already has a key" in second.stderr and "rotate" in second.stderr
    assert stored(project) == Secret(KEY)
    as_json = json.loads(set_key(project, fake, OTHER, "--json").stdout)
    assert "kimi-infra rotate" in as_json["error"]["fix"] and as_json["exitCode"] != 0


def test_a_key_the_provider_rejects_is_not_stored(project, fake):
    result = set_key(project, fake, "sk-not-accepted-0000000000000000")
    assert result.returncode != 0 and "moonshot" in result.stderr
    assert stored(project) is None
    assert "sk-not-accepted" not in result.stdout + result.stderr


def test_a_bad_verify_url_is_refused_before_the_key_is_read(project, fake):
    result = run_cli("--project-dir", str(project), "set-key", "-s", "t", "-p", "moonshot", "--key-stdin",
                     "--verify-base-url", "http://example.com/v1", stdin=KEY)
    assert result.returncode != 0 and "only https" in result.stderr
    assert stored(project) is None


def test_skip_verify_stores_without_asking(project, fake):
    result = run_cli("--project-dir", str(project), "set-key", "-s", "t", "-p", "moonshot", "--key-stdin",
                     "--skip-verify", stdin=KEY)
    assert result.returncode == 0, result.stderr
    assert "deploy --stack t" in result.stdout and fake.requests == []
    assert stored(project) == Secret(KEY)


def test_rotate_without_a_first_key_points_at_set_key(project, fake):
    result = run_cli("--project-dir", str(project), "rotate", "-s", "t", "-p", "moonshot", "--key-stdin",
                     "--verify-base-url", fake.base_url("moonshot"), stdin=KEY)
    assert result.returncode != 0
    assert "kimi-infra set-key --stack t --provider moonshot" in result.stderr and "pulumi up" in result.stderr


@pytest.mark.parametrize("command", ["set-key", "rotate"])
def test_a_wrong_provider_is_refused_before_any_prompt(project, command):
    """On a terminal --key-stdin prompts for the key; a bad --provider must stop the command first
    (were it to prompt, nobody answers and the run times out)."""
    import os
    import pty
    import subprocess
    import sys

    from tests.support.project import PROJECT_DIR

    controller, terminal = pty.openpty()
    try:
        result = subprocess.run([sys.executable, "-m", "kimi_infra", "--project-dir", str(project), command,
                                 "-s", "t", "-p", "nope", "--key-stdin"], stdin=terminal, capture_output=True,
                                text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(PROJECT_DIR)})
    finally:
        os.close(terminal)
        os.close(controller)
    assert result.returncode == 2 and "'nope' is not a provider" in result.stderr
    assert "API key" not in result.stderr
