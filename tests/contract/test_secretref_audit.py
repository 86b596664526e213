"""secretref end to end: the real OpenClaw resolves our rendered staging config through our
resolver against a real moto_server (`openclaw secrets audit --allow-exec` fetches every ref)."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from kimi_infra.render import parse
from kimi_infra.secret import Secret
from kimi_infra.stackfile import load_stack
from kimi_infra.stores import open_store
from tests.support.openclaw import render_mode
from tests.support.project import CANARY_KEY
from tests.support.resolver import answer, aws_env, call_resolver, request

pytestmark = pytest.mark.contract

KEYS = {"moonshot": CANARY_KEY, "kimi-code": CANARY_KEY.replace("CANARY", "KIMICODE")}
ROTATED = CANARY_KEY.replace("CANARY", "ROTATED")
ROTATION_TOKEN = "8f14e45f-ceea-467a-9b36-7e2a1c3d5b90"


@pytest.fixture
def staging(aws, resolver_launcher, tmp_path) -> tuple[Path, Path]:
    """Staging rendered in secretref mode, its keys in moto: (project dir, rendered config)."""
    project, config = render_mode(tmp_path, "staging", "secretref", resolver_launcher)
    spec = load_stack(project, "staging").spec
    for provider, key in KEYS.items():
        open_store(spec, provider, project).ensure(Secret(key))
    return project, config


def gateway_env(aws) -> dict[str, str]:
    """The gateway's environment; OpenClaw hands the resolver only the passEnv part of it."""
    return {**aws_env(aws.endpoint), "AWS_REGION": "us-east-1", "UNRELATED_SECRET": CANARY_KEY}


def test_audit_resolves_every_ref(openclaw, aws, staging):
    _, config = staging
    run = openclaw.audit(config, gateway_env(aws))
    assert run.returncode == 0 and run.data, run
    assert run.data["status"] == "clean", run
    assert run.data["summary"]["unresolvedRefCount"] == 0 and run.data["resolution"]["refsChecked"] == 2, run
    assert CANARY_KEY not in run.stdout + run.stderr


def test_audit_reports_a_deleted_secret_unresolved(openclaw, aws, staging):
    _, config = staging
    boto3.client("secretsmanager", region_name="us-east-1").delete_secret(
        SecretId="kimi-infra/staging/moonshot", ForceDeleteWithoutRecovery=True)
    run = openclaw.audit(config, gateway_env(aws))
    assert run.returncode == 2 and run.data and run.data["status"] == "unresolved", run
    assert run.data["summary"]["unresolvedRefCount"] == 1, run
    [finding] = run.data["findings"]
    assert finding["code"] == "REF_UNRESOLVED" and finding["jsonPath"] == "models.providers.moonshot.apiKey", run
    assert "(NOT_FOUND)" in finding["message"], run  # our per-id code reached OpenClaw


def test_a_rotated_key_is_answered_without_a_new_render(aws, resolver_launcher, staging):
    project, config = staging
    spec = load_stack(project, "staging").spec
    store = open_store(spec, "moonshot", project)
    store.stage_pending(Secret(ROTATED), ROTATION_TOKEN)
    store.promote(ROTATION_TOKEN)
    provider = parse(config.read_text()).secrets.providers["kimi-infra"]
    result = call_resolver(resolver_launcher, provider.args, request(store.name), aws_env(aws.endpoint))
    assert answer(result)["values"] == {store.name: ROTATED}
    _, again = render_mode(project.parent / "again", "staging", "secretref", resolver_launcher)
    assert again.read_text() == config.read_text()  # nothing to push: the gateway reloads the key itself
