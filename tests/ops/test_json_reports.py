"""`--json` on rotate, rollback, catalog-check and history: one JSON document on stdout, for a
success and for a failure (`{"error": {where, problem, fix}, "exitCode": n}`).

Real subprocess CLI runs, the real local store, a real HTTP fake provider on loopback.
"""

from __future__ import annotations

import json

import pytest

from kimi_infra.secret import Secret
from kimi_infra.stackfile import load_stack
from kimi_infra.stores import open_store
from tests.support.fake_provider import FakeProvider
from tests.support.project import CANARY_KEY, dev_like, make_project, run_cli

OLD = CANARY_KEY.replace("CANARY", "OLD")
NEW = CANARY_KEY.replace("CANARY", "NEW")


@pytest.fixture
def fake():
    with FakeProvider() as server:
        server.accept("moonshot", OLD, NEW)
        yield server


@pytest.fixture
def project(tmp_path):
    project = make_project(tmp_path, {"t": dev_like(providers=["moonshot"])})
    open_store(load_stack(project, "t").spec, "moonshot", project).ensure(Secret(OLD))
    return project


def cli(project, *args, stdin=None):
    return run_cli("--project-dir", str(project), *args, "--json", stdin=stdin)


def error_document(result, code):
    assert result.returncode == code, result.stderr
    document = json.loads(result.stdout)
    assert document["exitCode"] == code and document["error"]["problem"]
    return document["error"]


def test_rotate_and_rollback(project, fake):
    url = fake.base_url("moonshot")
    rotated = cli(project, "rotate", "-s", "t", "-p", "moonshot", "--key-stdin", "--verify-base-url", url, stdin=NEW)
    assert rotated.returncode == 0, rotated.stderr
    after = json.loads(rotated.stdout)
    assert after["provider"] == "moonshot" and after["currentVersion"] and after["pending"] is None
    assert NEW not in rotated.stdout + rotated.stderr

    rolled = json.loads(cli(project, "rollback", "-s", "t", "-p", "moonshot").stdout)
    assert rolled["currentVersion"] != after["currentVersion"]

    rejected = cli(project, "rotate", "-s", "t", "-p", "moonshot", "--key-stdin", "--verify-base-url", url,
                   stdin="sk-not-accepted-1111111111111111")
    assert "moonshot" in json.dumps(error_document(rejected, 2))


def test_rollback_without_a_previous_key_is_an_error_document(project):
    error = error_document(cli(project, "rollback", "-s", "t", "-p", "moonshot"), 2)
    assert "no previous version" in error["problem"]


def test_catalog_check_equal_different_and_failed(project, fake):
    url = fake.base_url("moonshot")
    equal = cli(project, "catalog-check", "-s", "t", "-p", "moonshot", "--base-url", url)
    assert equal.returncode == 0 and json.loads(equal.stdout)["equal"] is True

    fake.behaviour.models["moonshot"].append("kimi-k3-preview")
    different = cli(project, "catalog-check", "-s", "t", "-p", "moonshot", "--base-url", url)
    assert different.returncode == 1 and json.loads(different.stdout)["new"] == ["kimi-k3-preview"]

    fake.behaviour.keys["moonshot"].clear()  # the stored key is now rejected: 401, an error, not a difference
    failed = cli(project, "catalog-check", "-s", "t", "-p", "moonshot", "--base-url", url)
    assert "401" in json.dumps(error_document(failed, 2))


def test_history(project):
    assert run_cli("--project-dir", str(project), "deploy", "--stack", "t").returncode == 0
    history = json.loads(cli(project, "history", "-s", "t").stdout)
    assert history["targets"][0]["name"] == "local" and len(history["targets"][0]["revisions"]) == 1
    error = error_document(cli(project, "history", "-s", "t", "--target", "nope"), 2)
    assert "local" in error["fix"]
