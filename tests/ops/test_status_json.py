"""`status --json` is one JSON document in every state, with the documented exit code:
0 in sync, 1 drifted / missing / pending, 2 when a check failed (store unreachable, corrupt store)."""

from __future__ import annotations

import json
from pathlib import Path

import boto3

from kimi_infra.deploy import deploy_all
from kimi_infra.secret import Secret
from kimi_infra.stackfile import load_stack
from kimi_infra.stores import open_store
from tests.support.moto import create_bucket
from tests.support.ports import free_port
from tests.support.status import NEW_KEY, TOKEN, deploy, status


def report(project: Path, stack: str, env: dict[str, str] | None = None) -> tuple[int, dict]:
    result = status(project, stack, "--json", env=env)
    return result.returncode, json.loads(result.stdout)  # exactly one document, or this raises


def test_deployed_is_0(aws, project):
    deploy(project, "staging")
    code, document = report(project, "staging")
    assert (code, document["inSync"], document["exitCode"]) == (0, True, 0)
    assert {k["state"] for k in document["keys"]} == {"ok"}


def test_never_deployed_is_missing_with_1(aws, project):
    create_bucket("kimi-infra-staging-config")
    code, document = report(project, "staging")
    assert code == 1
    assert [t["state"] for t in document["targets"]] == ["missing"]
    assert {k["state"] for k in document["keys"]} == {"missing"}


def test_drifted_is_1(aws, project):
    deploy(project, "staging")
    boto3.client("s3", region_name="us-east-1").put_object(Bucket="kimi-infra-staging-config",
                                                           Key="openclaw/openclaw.json5", Body=b"{}")
    code, document = report(project, "staging")
    assert code == 1 and document["targets"][0]["state"] == "drifted"


def test_pending_is_1(aws, project):
    deploy(project, "staging")
    open_store(load_stack(project, "staging").spec, "moonshot", project).stage_pending(Secret(NEW_KEY), TOKEN)
    code, document = report(project, "staging")
    assert code == 1
    assert {k["provider"]: k["state"] for k in document["keys"]} == {"moonshot": "pending", "kimi-code": "ok"}


def test_store_unreachable_is_2_with_error_items(aws, project):
    code, document = report(project, "staging", env={"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"})
    assert (code, document["exitCode"]) == (2, 2)
    assert {k["state"] for k in document["keys"]} == {"error"}
    assert all("cannot reach Secrets Manager" in k["error"] for k in document["keys"])


def test_corrupt_local_store_is_2_not_a_traceback(project):
    store = project / ".kimi-infra" / "dev" / "secrets.json"
    store.parent.mkdir(parents=True)
    store.write_bytes(b"\xff\x00 not a store")
    result = status(project, "dev", "--json")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    document = json.loads(result.stdout)
    assert {k["state"] for k in document["keys"]} == {"error"}
    assert all("not a kimi-infra store file" in k["error"] for k in document["keys"])


def test_a_reference_stack_needs_no_key_in_the_store(project):
    assert status(project, "dev").returncode == 1  # nothing deployed yet: the target is missing

    deploy_all(load_stack(project, "dev").spec, project)  # what `make dev` does, without keys
    code, document = report(project, "dev")
    assert code == 0, document
    assert {k["state"] for k in document["keys"]} == {"not-stored"}


def test_a_bad_stack_file_is_still_one_document(project):
    (project / "stacks" / "Pulumi.dev.yaml").write_text("config: [")
    code, document = report(project, "dev")
    assert (code, document["exitCode"], document["targets"], document["keys"]) == (2, 2, [], [])
    error = document["error"]  # as every command's --json error: where, problem, fix
    assert "Pulumi.dev.yaml: line 2" in error["where"] and "YAML syntax error" in error["problem"] and error["fix"]
