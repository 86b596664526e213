"""Secret stores against a real moto_server (partitions `aws` and `aws-cn`) and the local file.

One behaviour suite runs over all three (`store` fixture); AWS-only tests count API calls and
check partitions; local-only tests check the file (0600, JSON, locking).
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import stat
import subprocess
import sys
import traceback
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kimi_infra.models import StackSpec
from kimi_infra.secret import Secret
from kimi_infra.stores import (
    LocalFileStore,
    SecretDescription,
    SecretStore,
    StoreError,
    open_store,
    partition_for_region,
    store_tags,
)
from kimi_infra.stores.aws_secrets_manager import AwsSecretsManagerStore
from tests.support.moto import point_boto3_at
from tests.support.ports import free_port
from tests.support.project import CANARY_KEY, PROJECT_DIR

NAME = "kimi-infra/staging/moonshot"
OLD = Secret("sk-old-0000000000000000000000000000")
NEW = Secret("sk-new-1111111111111111111111111111")
TOKEN = "0b4e7a52-6f1c-4d0e-9a43-2c9d1f6b8e10"
OTHER_TOKEN = "7f0c2d14-3b5a-4e8f-a1c6-9d2e4b7a0f35"
REGIONS = {"aws": "us-east-1", "aws-cn": "cn-north-1"}


# --- fixtures and helpers --------------------------------------------------------------------


@pytest.fixture(params=["aws", "aws-cn", "local"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> SecretStore:
    """The same secret in each kind of store, empty."""
    if request.param == "local":
        return LocalFileStore(tmp_path / ".kimi-infra/staging/secrets.json", NAME)
    request.getfixturevalue("aws")
    return AwsSecretsManagerStore(NAME, REGIONS[request.param], tags=store_tags("staging", "moonshot"))


@pytest.fixture(params=["aws", "aws-cn"])
def aws_store(request: pytest.FixtureRequest, aws) -> AwsSecretsManagerStore:
    return AwsSecretsManagerStore(NAME, REGIONS[request.param], tags=store_tags("staging", "moonshot"))


def labelled(description: SecretDescription | None) -> tuple:
    """A description less its dates (moto's CreatedDate of a version moves between two listings)."""
    assert description is not None
    return description.name, description.arn, tuple((v.version_id, v.stages) for v in description.versions)


def snapshot(store: SecretStore) -> tuple:
    """Versions and their stages: equal snapshots mean no version was added or relabelled."""
    return tuple((v.version_id, tuple(sorted(v.stages))) for v in store.describe().versions)


def values(store: SecretStore) -> dict[str, Secret | None]:
    return {stage: store.get(stage) for stage in ("current", "pending", "previous")}


def assert_clear_error(error: pytest.ExceptionInfo[StoreError], name: str = NAME, *, says: str = "") -> None:
    """One line naming the secret; neither it nor its traceback holds the canary key."""
    text = str(error.value)
    assert "\n" not in text
    assert name in text
    assert says in text
    full = "".join(traceback.format_exception(error.value))
    assert CANARY_KEY not in full
    assert "During handling of the above exception" not in full


def remove_behind_our_back(store: SecretStore) -> None:
    """Delete the secret the way an operator would, without the store knowing."""
    if isinstance(store, LocalFileStore):
        document = json.loads(store.path.read_text())
        del document["secrets"][store.name]
        store.path.write_text(json.dumps(document))
        return
    boto3.client("secretsmanager", region_name=store.region).delete_secret(
        SecretId=store.name, ForceDeleteWithoutRecovery=True)


def rotate(store: SecretStore, value: Secret = NEW, token: str = TOKEN) -> None:
    store.stage_pending(value, token)
    assert store.get("pending") == value
    store.promote(token)


# --- one behaviour suite over every store ----------------------------------------------------


def test_ensure_creates_once_then_changes_nothing(store):
    created = store.ensure(OLD)
    before = snapshot(store)

    again = store.ensure(OLD)

    assert (created.outcome, again.outcome) == ("created", "unchanged")
    assert again.version_id == created.version_id
    assert snapshot(store) == before
    assert values(store) == {"current": OLD, "pending": None, "previous": None}
    assert store.exists()


def test_ensure_with_a_new_value_keeps_the_old_as_previous(store):
    store.ensure(OLD)

    updated = store.ensure(NEW)

    assert updated.outcome == "updated"
    assert values(store) == {"current": NEW, "pending": None, "previous": OLD}
    assert store.describe().version_in("current").version_id == updated.version_id
    assert store.ensure(NEW).outcome == "unchanged"


def test_stage_pending_rerun_with_same_token_adds_nothing(store):
    store.ensure(OLD)

    assert store.stage_pending(NEW, TOKEN) == TOKEN
    staged = snapshot(store)
    assert store.stage_pending(NEW, TOKEN) == TOKEN

    assert snapshot(store) == staged
    assert values(store) == {"current": OLD, "pending": NEW, "previous": None}
    assert store.describe().version_in("pending").version_id == TOKEN


def test_stage_pending_refuses_a_token_reused_with_another_key(store):
    store.ensure(OLD)
    store.stage_pending(NEW, TOKEN)
    staged = snapshot(store)

    with pytest.raises(StoreError) as error:
        store.stage_pending(Secret(CANARY_KEY), TOKEN)

    assert_clear_error(error, says="already used with a different key")
    assert snapshot(store) == staged
    assert store.get("pending") == NEW


def test_a_newer_pending_replaces_the_older(store):
    store.ensure(OLD)
    store.stage_pending(Secret("sk-first-pending-000000000000000"), OTHER_TOKEN)

    store.stage_pending(NEW, TOKEN)

    # One describe: two reads may list a version's stages in another order (moto keeps a list).
    versions = store.describe().versions
    assert [v.version_id for v in versions if "pending" in v.stages] == [TOKEN]


def test_promote_rerun_is_a_no_op(store):
    first = store.ensure(OLD)
    rotate(store)
    promoted = snapshot(store)

    store.promote(TOKEN)
    store.stage_pending(NEW, TOKEN)  # a rotation re-run from the top after it finished

    assert snapshot(store) == promoted
    assert values(store) == {"current": NEW, "pending": None, "previous": OLD}
    description = store.describe()
    assert description.version_in("current").version_id == TOKEN
    assert description.version_in("previous").version_id == first.version_id


def test_promote_needs_a_pending_version(store):
    store.ensure(OLD)
    with pytest.raises(StoreError) as error:
        store.promote(TOKEN)
    assert_clear_error(error, says="stage the new key first")

    store.stage_pending(NEW, TOKEN)
    store.discard_pending()
    with pytest.raises(StoreError) as error:
        store.promote(TOKEN)
    assert_clear_error(error)
    assert values(store) == {"current": OLD, "pending": None, "previous": None}


def test_discard_pending_rerun_is_a_no_op(store):
    store.ensure(OLD)
    before = snapshot(store)
    store.stage_pending(NEW, TOKEN)

    store.discard_pending()
    store.discard_pending()

    assert snapshot(store) == before
    assert values(store) == {"current": OLD, "pending": None, "previous": None}


def test_a_discarded_key_can_be_staged_again_with_its_token(store):
    store.ensure(OLD)
    store.stage_pending(NEW, TOKEN)
    store.discard_pending()

    store.stage_pending(NEW, TOKEN)

    assert store.get("pending") == NEW
    assert store.describe().version_in("pending").version_id == TOKEN


def test_rollback_rerun_with_expected_current_is_a_no_op(store):
    first = store.ensure(OLD)
    rotate(store)

    assert store.rollback(expected_current=TOKEN) == first.version_id
    rolled_back = snapshot(store)
    assert store.rollback(expected_current=TOKEN) == first.version_id

    assert snapshot(store) == rolled_back
    assert values(store) == {"current": OLD, "pending": None, "previous": NEW}


def test_rollback_refuses_when_current_moved_meanwhile(store):
    store.ensure(OLD)
    rotate(store)
    before = snapshot(store)

    with pytest.raises(StoreError) as error:
        store.rollback(expected_current=OTHER_TOKEN)

    assert_clear_error(error, says="changed")
    assert snapshot(store) == before


def test_rollback_without_previous_is_a_clear_error(store):
    store.ensure(OLD)
    with pytest.raises(StoreError) as error:
        store.rollback()
    assert_clear_error(error, says="no previous version")
    assert store.get() == OLD


@pytest.mark.parametrize("token", ["short", "x" * 65, "0b4e7a52 6f1c 4d0e 9a43 2c9d1f6b8e10", "é" * 32])
def test_bad_tokens_are_refused_before_any_call(store, aws_calls, token):
    for step in (lambda: store.stage_pending(NEW, token), lambda: store.promote(token)):
        with pytest.raises(StoreError) as error:
            step()
        assert_clear_error(error, says="32-64")
    assert aws_calls.calls == []


@pytest.mark.parametrize("value", [CANARY_KEY + "x" * 65_536, "", "  \n"], ids=["oversize", "empty", "blank"])
def test_unusable_values_are_refused_before_any_call(store, aws_calls, value):
    store.ensure(OLD)
    before = snapshot(store)
    aws_calls.clear()

    for step in (lambda: store.ensure(Secret(value)), lambda: store.stage_pending(Secret(value), TOKEN)):
        with pytest.raises(StoreError) as error:
            step()
        assert_clear_error(error)

    assert aws_calls.calls == []
    assert snapshot(store) == before


def test_every_step_on_a_missing_secret_is_a_clear_error(store):
    assert not store.exists()
    steps = {
        "get": lambda: store.get(),
        "stage_pending": lambda: store.stage_pending(Secret(CANARY_KEY), TOKEN),
        "promote": lambda: store.promote(TOKEN),
        "discard_pending": store.discard_pending,
        "rollback": store.rollback,
        "describe": store.describe,
    }
    for step in steps.values():
        with pytest.raises(StoreError) as error:
            step()
        assert_clear_error(error, says="not found")
    store.delete()  # nothing to delete is fine
    assert not store.exists()


def test_secret_deleted_behind_our_back(store):
    store.ensure(OLD)
    store.stage_pending(NEW, TOKEN)
    remove_behind_our_back(store)

    for step in (store.get, lambda: store.stage_pending(Secret(CANARY_KEY), OTHER_TOKEN),
                 lambda: store.promote(TOKEN), store.discard_pending, store.rollback):
        with pytest.raises(StoreError) as error:
            step()
        assert_clear_error(error, says="not found")

    assert not store.exists()
    assert store.ensure(OLD).outcome == "created"  # `pulumi up` heals it


def test_describe_never_shows_a_value(store):
    store.ensure(Secret(CANARY_KEY))
    store.stage_pending(NEW, TOKEN)

    description = store.describe()

    assert CANARY_KEY not in repr(description) and CANARY_KEY not in str(description)
    assert {v.stages for v in description.versions} == {("current",), ("pending",)}
    assert all(v.created is not None for v in description.versions)
    assert description.name == NAME


def test_results_errors_and_logs_never_show_a_value(store, caplog):
    caplog.set_level(logging.DEBUG, logger="kimi_infra")
    result = store.ensure(Secret(CANARY_KEY))
    current = store.get()
    logging.getLogger("kimi_infra.test").info("stored %s: %s %r", result, current, current)

    shown = " ".join([repr(result), str(result), repr(current), str(current), f"{current}", repr(store),
                      str(store), caplog.text])

    assert CANARY_KEY not in shown
    assert current.reveal() == CANARY_KEY


def test_delete_then_exists_is_false_and_delete_again_is_fine(store):
    store.ensure(OLD)
    store.delete()
    store.delete()
    assert not store.exists()


def test_describe_if_exists_is_describe_for_an_existing_secret_and_none_for_a_missing_one(store):
    assert store.describe_if_exists() is None
    store.ensure(OLD)
    assert labelled(store.describe_if_exists()) == labelled(store.describe())
    store.delete()
    assert store.describe_if_exists() is None


# --- AWS Secrets Manager: calls, partitions, errors ------------------------------------------


def test_ensure_writes_only_when_the_value_changes(aws_store, aws_calls):
    aws_store.ensure(OLD)
    assert aws_calls.writes() == ["CreateSecret"]

    aws_calls.clear()
    aws_store.ensure(OLD)
    assert aws_calls.writes() == []

    aws_calls.clear()
    aws_store.ensure(NEW)
    assert aws_calls.writes() == ["PutSecretValue"]


def test_reruns_of_every_step_make_no_writes(aws_store, aws_calls):
    aws_store.ensure(OLD)
    rerun_writes = []
    for step in (lambda: aws_store.ensure(OLD), lambda: aws_store.stage_pending(NEW, TOKEN),
                 lambda: aws_store.promote(TOKEN), aws_store.discard_pending,
                 lambda: aws_store.rollback(expected_current=TOKEN)):
        step()
        aws_calls.clear()
        step()
        rerun_writes += aws_calls.writes()

    assert rerun_writes == []
    assert values(aws_store) == {"current": OLD, "pending": None, "previous": NEW}


def test_a_whole_rotation_takes_at_most_eight_calls(aws_store, aws_calls):
    aws_store.ensure(OLD)
    aws_calls.clear()

    rotate(aws_store)  # stage + read-back verify + promote + clear pending

    assert len(aws_calls.calls) <= 8, aws_calls.by_operation()
    assert aws_calls.by_operation()["PutSecretValue"] == 1


def test_describe_if_exists_reads_the_secret_once(aws_store, aws_calls):
    """The provider's diff asks on every preview whether the key exists and what is current: one describe_secret
    (and the version listing), where exists() then describe() read the secret twice (issue 23)."""
    assert aws_store.describe_if_exists() is None
    aws_store.ensure(OLD)
    aws_calls.clear()

    assert labelled(aws_store.describe_if_exists()) == labelled(aws_store.describe())
    calls = aws_calls.by_operation()
    assert calls["DescribeSecret"] == 2 and calls["ListSecretVersionIds"] == 2, calls  # one each per call

    aws_store.delete()  # scheduled for deletion: gone, as exists() says
    assert aws_store.describe_if_exists() is None


def test_arns_come_from_the_answers_in_the_regions_partition(aws_store, aws_calls):
    partition = partition_for_region(aws_store.region)
    prefix = f"arn:{partition}:secretsmanager:{aws_store.region}:"

    result = aws_store.ensure(OLD)
    rotate(aws_store)

    assert result.arn.startswith(prefix)
    assert aws_store.describe().arn == result.arn
    assert {region for _, _, region in aws_calls.calls} == {aws_store.region}
    assert {service for service, _, _ in aws_calls.calls} == {"secretsmanager"}


def test_cn_store_uses_aws_cn_arns_and_only_cn_regions(aws, aws_calls):
    store = AwsSecretsManagerStore("kimi-infra/prod-cn/moonshot", "cn-north-1")

    assert store.ensure(OLD).arn.startswith("arn:aws-cn:secretsmanager:cn-north-1:")
    store.stage_pending(NEW, TOKEN)
    store.promote(TOKEN)
    assert store.describe().arn.startswith("arn:aws-cn:")

    assert all(region.startswith("cn-") for _, _, region in aws_calls.calls)


@pytest.fixture
def read_params(aws_calls, monkeypatch) -> list[dict]:
    """The parameters of every GetSecretValue call made from now on."""
    import botocore.session

    seen: list[dict] = []
    counting = botocore.session.Session.create_client

    def create_client(self, service_name, *args, **kwargs):
        client = counting(self, service_name, *args, **kwargs)
        client.meta.events.register("provide-client-params.secretsmanager.GetSecretValue",
                                    lambda params, **_: seen.append(dict(params)))
        return client

    monkeypatch.setattr(botocore.session.Session, "create_client", create_client)
    return seen


def test_every_read_names_a_stage_or_version(aws_store, read_params):
    aws_store.ensure(OLD)
    aws_store.ensure(NEW)
    aws_store.stage_pending(OLD, TOKEN)
    aws_store.stage_pending(OLD, TOKEN)
    values(aws_store)

    assert len(read_params) >= 5
    assert all(params.get("VersionStage") or params.get("VersionId") for params in read_params)


def test_new_secret_carries_tags_and_kms_key(aws):
    store = AwsSecretsManagerStore(NAME, "us-east-1", kms_key_id="alias/kimi-infra",
                                   tags=store_tags("staging", "moonshot"))
    store.ensure(OLD)

    answer = boto3.client("secretsmanager", region_name="us-east-1").describe_secret(SecretId=NAME)

    assert answer["KmsKeyId"] == "alias/kimi-infra"
    assert {t["Key"]: t["Value"] for t in answer["Tags"]} == {
        "stack": "staging", "provider": "moonshot", "managed-by": "kimi-infra"}


def test_promote_resumes_after_a_crash_between_its_steps(aws_store, aws_calls):
    first = aws_store.ensure(OLD)
    aws_store.stage_pending(NEW, TOKEN)
    client = boto3.client("secretsmanager", region_name=aws_store.region)
    client.update_secret_version_stage(SecretId=NAME, VersionStage="AWSCURRENT", MoveToVersionId=TOKEN,
                                       RemoveFromVersionId=first.version_id)  # step one, then "crash"
    aws_calls.clear()

    aws_store.promote(TOKEN)

    assert aws_calls.writes() == ["UpdateSecretVersionStage"]
    assert values(aws_store) == {"current": NEW, "pending": None, "previous": OLD}


def test_secret_scheduled_for_deletion_is_refused_without_writes(aws_store, aws_calls):
    aws_store.ensure(OLD)
    boto3.client("secretsmanager", region_name=aws_store.region).delete_secret(SecretId=NAME, RecoveryWindowInDays=7)
    aws_calls.clear()

    for step in (lambda: aws_store.ensure(Secret(CANARY_KEY)), aws_store.get,
                 lambda: aws_store.stage_pending(Secret(CANARY_KEY), TOKEN), lambda: aws_store.promote(TOKEN)):
        with pytest.raises(StoreError) as error:
            step()
        assert_clear_error(error, says="scheduled for deletion")

    assert aws_calls.writes() == []
    assert not aws_store.exists()
    aws_store.delete()  # already scheduled: nothing more to do
    assert aws_calls.writes() == []


def test_unreachable_endpoint_is_one_line(aws, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(StoreError) as error:
        AwsSecretsManagerStore(NAME, "us-east-1").ensure(Secret(CANARY_KEY))
    assert_clear_error(error, says="cannot reach Secrets Manager")


def test_missing_credentials_are_one_line(aws, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no slow instance-metadata probe
    with pytest.raises(StoreError) as error:
        AwsSecretsManagerStore(NAME, "us-east-1").ensure(Secret(CANARY_KEY))
    assert_clear_error(error, says="no AWS credentials")


def test_unknown_profile_is_one_line(aws):
    with pytest.raises(StoreError) as error:
        AwsSecretsManagerStore(NAME, "us-east-1", profile="nope").get()
    assert_clear_error(error, says="profile 'nope' not found")


@pytest.mark.parametrize(("code", "message", "says"), [
    ("KMSDisabledException", "The key is disabled.", "KMS key alias/kimi): the KMS key cannot be used"),
    ("KMSInvalidStateException", "Pending deletion.", "KMS key alias/kimi): the KMS key cannot be used"),
    ("KMSAccessDeniedException", "Not allowed.", "KMS key alias/kimi): the KMS key cannot be used"),
    ("DecryptionFailure", "Cannot decrypt.", "KMS key alias/kimi): the KMS key cannot be used"),
    ("AccessDeniedException", "User is not authorized.", "access denied"),
    ("UnrecognizedClientException", "Bad token.", "AWS rejected the credentials"),
    ("InvalidRequestException", "The secret is marked for deletion.", "scheduled for deletion"),
    ("ThrottlingException", "Rate exceeded.", "AWS is throttling requests"),
    ("InternalServiceError", "Oops " + CANARY_KEY, "AWS answered InternalServiceError"),
])
def test_aws_error_codes_map_to_one_line(code, message, says):
    # moto cannot make KMS fail (it accepts any key id), so these answers are built by hand.
    store = AwsSecretsManagerStore("kimi-infra/prod/moonshot", "cn-north-1", kms_key_id="alias/kimi")
    error = ClientError({"Error": {"Code": code, "Message": message}}, "PutSecretValue")

    text = str(store._explain(error))

    assert says in text and "kimi-infra/prod/moonshot" in text
    assert "\n" not in text and CANARY_KEY not in text and message not in text


def test_store_pickles_with_dill_after_use(aws_store):
    import dill

    aws_store.ensure(OLD)
    for dumps, loads in ((pickle.dumps, pickle.loads), (lambda o: dill.dumps(o, recurse=True), dill.loads)):
        copy = loads(dumps(aws_store))
        assert copy.get() == OLD
        assert vars(copy) == vars(aws_store)


def _handlers(client) -> list[tuple]:
    """Each event of a client's emitter with the names of its handlers (botocore's private trie: an upgrade
    that moves it fails this test loudly rather than passing)."""
    found: list[tuple] = []

    def name(handler) -> str:
        return getattr(handler, "__qualname__", type(handler).__qualname__)

    def walk(node, prefix):
        for key, child in node.get("children", {}).items():
            if values := child.get("values"):
                parts = (values.first, values.middle, values.last)
                found.append(((*prefix, key), *(tuple(map(name, part)) for part in parts)))
            walk(child, (*prefix, key))

    walk(client.meta.events._emitter._handlers._root, ())
    return sorted(found)


def test_each_client_has_botocores_own_handlers_and_a_session_of_its_own(aws, monkeypatch):
    """Clients are built from a copy of one template of botocore's handlers (issue 23: registering them
    was most of a client's cost): the same handlers as a client of a plain botocore session, no handler
    one client adds reaches another, and credentials are read anew for each client."""
    import botocore.session
    from botocore.config import Config

    from kimi_infra.aws import ATTEMPTS, CONNECT_TIMEOUT, READ_TIMEOUT, _new_client

    config = Config(connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT,
                    retries={"mode": "standard", "total_max_attempts": ATTEMPTS})
    plain = botocore.session.Session().create_client("secretsmanager", region_name="us-east-1", config=config)
    first = _new_client("secretsmanager", "us-east-1", None)
    assert _handlers(first) == _handlers(plain) != []
    seen: list[str] = []
    first.meta.events.register("before-call.secrets-manager.ListSecrets", lambda **_: seen.append("first"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDSECONDCLIENT0000")
    second = _new_client("secretsmanager", "us-east-1", None)

    second.list_secrets()
    assert seen == []
    first.list_secrets()
    assert seen == ["first"]
    assert second._request_signer._credentials.access_key == "AKIDSECONDCLIENT0000"
    assert first._request_signer._credentials.access_key != "AKIDSECONDCLIENT0000"

# --- access denied, with moto enforcing IAM --------------------------------------------------

IAM_SETUP_CALLS = 7  # the calls in `iam_moto` before enforcement starts; keep in step with it


@dataclass(frozen=True)
class IamMoto:
    endpoint: str
    admin: tuple[str, str]
    staging_only: tuple[str, str]

    def client(self, credentials: tuple[str, str], service: str = "secretsmanager"):
        key, secret = credentials
        return boto3.session.Session(aws_access_key_id=key, aws_secret_access_key=secret,
                                     region_name="us-east-1").client(service, endpoint_url=self.endpoint)


@pytest.fixture(scope="module")
def iam_moto(moto_factory) -> IamMoto:
    """A second moto_server that enforces IAM after its first IAM_SETUP_CALLS calls."""
    server = moto_factory("moto-iam", {"INITIAL_NO_AUTH_ACTION_COUNT": str(IAM_SETUP_CALLS)})
    setup = IamMoto(server.endpoint, ("setup", "setup"), ("setup", "setup"))
    iam = setup.client(setup.admin, "iam")
    admin = _user_with_policy(iam, "admin", "*")  # 3 calls
    staging_only = _user_with_policy(iam, "staging-only", "arn:aws:secretsmanager:*:*:secret:kimi-infra/staging/*")
    world = IamMoto(server.endpoint, admin, staging_only)
    world.client(admin).create_secret(Name="kimi-infra/prod/moonshot", SecretString=OLD.reveal())  # call 7
    return world


def _user_with_policy(iam, user: str, resource: str) -> tuple[str, str]:
    policy = {"Version": "2012-10-17",
              "Statement": [{"Effect": "Allow", "Action": "secretsmanager:*", "Resource": resource}]}
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="secrets", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def test_access_denied_names_the_secret_and_writes_nothing(iam_moto, monkeypatch):
    point_boto3_at(monkeypatch, iam_moto.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", iam_moto.staging_only[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", iam_moto.staging_only[1])
    prod = AwsSecretsManagerStore("kimi-infra/prod/moonshot", "us-east-1")

    canary = Secret(CANARY_KEY)
    for step in (prod.get, lambda: prod.ensure(canary), lambda: prod.stage_pending(canary, TOKEN)):
        with pytest.raises(StoreError) as error:
            step()
        assert_clear_error(error, "kimi-infra/prod/moonshot", says="access denied")
        assert "fix: allow the AWS identity in use this call" in str(error.value)

    admin = iam_moto.client(iam_moto.admin)
    versions = admin.list_secret_version_ids(SecretId="kimi-infra/prod/moonshot")["Versions"]
    assert len(versions) == 1
    current = admin.get_secret_value(SecretId="kimi-infra/prod/moonshot", VersionStage="AWSCURRENT")
    assert current["SecretString"] == OLD.reveal()


def test_unknown_access_key_is_access_denied(iam_moto, monkeypatch):
    point_boto3_at(monkeypatch, iam_moto.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAUNKNOWNUNKNOWN00")
    with pytest.raises(StoreError) as error:
        AwsSecretsManagerStore("kimi-infra/prod/moonshot", "us-east-1").exists()
    assert_clear_error(error, "kimi-infra/prod/moonshot", says="access denied")


# --- the local file store ------------------------------------------------------------------


@pytest.fixture
def local(tmp_path: Path) -> LocalFileStore:
    return LocalFileStore(tmp_path / ".kimi-infra/dev/secrets.json", "kimi-infra/dev/moonshot")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_local_file_is_0600_and_json_after_every_step(local):
    steps = [lambda: local.ensure(OLD), lambda: local.stage_pending(NEW, TOKEN), lambda: local.promote(TOKEN),
             lambda: local.rollback(expected_current=TOKEN), lambda: local.stage_pending(NEW, OTHER_TOKEN),
             local.discard_pending, lambda: local.ensure(NEW), local.delete]
    for step in steps:
        step()
        assert _mode(local.path) == 0o600
        assert _mode(local.lock_path) == 0o600
        assert isinstance(json.loads(local.path.read_text()), dict)
        assert list(local.path.parent.glob("*.tmp")) == []


def test_local_file_keeps_no_discarded_or_superseded_key(local):
    local.ensure(Secret("sk-oldest-000000000000000000000000"))
    local.ensure(OLD)
    local.stage_pending(NEW, TOKEN)
    local.stage_pending(Secret("sk-other-pending-000000000000000"), OTHER_TOKEN)
    local.promote(OTHER_TOKEN)

    text = local.path.read_text()

    assert "sk-oldest" not in text and NEW.reveal() not in text
    assert len(local.describe().versions) == 2


def test_local_no_op_does_not_rewrite_the_file(local):
    local.ensure(OLD)
    local.stage_pending(NEW, TOKEN)
    written = local.path.stat().st_ino  # every write renames a new file into place

    local.ensure(OLD)
    local.stage_pending(NEW, TOKEN)
    assert local.path.stat().st_ino == written

    local.discard_pending()
    discarded = local.path.stat().st_ino
    local.discard_pending()
    assert discarded != written
    assert local.path.stat().st_ino == discarded


def test_one_local_file_holds_every_provider_of_the_stack(local):
    other = LocalFileStore(local.path, "kimi-infra/dev/kimi-code")
    local.ensure(OLD)
    other.ensure(NEW)

    assert set(json.loads(local.path.read_text())["secrets"]) == {"kimi-infra/dev/moonshot", "kimi-infra/dev/kimi-code"}
    other.delete()
    assert local.get() == OLD and not other.exists()


def _ensure_rounds(path: str, worker: int, rounds: int) -> None:
    store = LocalFileStore(path, f"kimi-infra/dev/p{worker}")
    for round_ in range(rounds):
        store.ensure(Secret(f"sk-{worker}-{round_}"))


def test_concurrent_processes_lose_no_update(local):
    workers, rounds = 6, 6
    with ProcessPoolExecutor(workers, mp_context=get_context("fork")) as pool:
        list(pool.map(_ensure_rounds, [str(local.path)] * workers, range(workers), [rounds] * workers))

    for worker in range(workers):
        store = LocalFileStore(local.path, f"kimi-infra/dev/p{worker}")
        assert store.get() == Secret(f"sk-{worker}-{rounds - 1}")
        assert store.get("previous") == Secret(f"sk-{worker}-{rounds - 2}")


def test_corrupt_local_file_is_one_line_without_its_content(local):
    local.path.parent.mkdir(parents=True)
    local.path.write_text('{"format": 1, "secrets": {"kimi-infra/dev/moonshot": "' + CANARY_KEY)

    for step in (local.get, lambda: local.ensure(OLD)):
        with pytest.raises(StoreError) as error:
            step()
        assert_clear_error(error, "kimi-infra/dev/moonshot", says="not a kimi-infra store file")


# --- both stores follow the same rules (differential, random sequences) ----------------------

TOKENS = [f"{i:08d}-0000-4000-8000-000000000000" for i in range(3)]
ENSURE = st.tuples(st.just("ensure"), st.integers(0, 2))
ROTATION_STEP = st.one_of(
    st.tuples(st.just("stage"), st.integers(0, 2)),  # token i always carries key i: never reused
    st.tuples(st.just("promote"), st.integers(0, 2)),
    st.tuples(st.just("discard"), st.just(0)),
    st.tuples(st.just("rollback"), st.just(0)),
)
# `ensure` runs before any rotation step: moto 5.2.5 mislabels a changed `ensure` that follows a
# promote or rollback (see test_moto_gap_plain_put_after_a_label_move), which AWS does not.
STEPS = st.tuples(st.lists(ENSURE, max_size=2), st.lists(ROTATION_STEP, min_size=1, max_size=6)).map(
    lambda parts: parts[0] + parts[1])


def _apply(store: SecretStore, step: tuple[str, int]) -> str:
    kind, index = step
    key = Secret(f"sk-key-{index}-{'k' * 24}")
    actions = {
        "ensure": lambda: store.ensure(key),
        "stage": lambda: store.stage_pending(key, TOKENS[index]),
        "promote": lambda: store.promote(TOKENS[index]),
        "discard": store.discard_pending,
        "rollback": store.rollback,
    }
    try:
        actions[kind]()
    except StoreError:
        return "error"
    return "ok"


def _token_stages(store: SecretStore) -> dict[str, tuple[str, ...]]:
    return {v.version_id: tuple(sorted(v.stages)) for v in store.describe().versions if v.version_id in TOKENS}


def _revealed(store: SecretStore) -> dict[str, str | None]:
    """Values by stage, revealed so that a mismatch shows which key went where."""
    return {stage: value.reveal() if value else None for stage, value in values(store).items()}


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
def test_local_and_aws_stores_agree_step_by_step(aws, tmp_path, steps):
    case = f"diff{os.urandom(4).hex()}"  # a fresh secret per example: the moto reset is per test
    name = f"kimi-infra/{case}/moonshot"
    remote = AwsSecretsManagerStore(name, "us-east-1")
    local = LocalFileStore(tmp_path / case / "secrets.json", name)
    for store in (remote, local):
        store.ensure(Secret(f"sk-initial-{'k' * 24}"))

    for step in steps:  # labels after every step (one call); values, which cost more, at the end
        assert _apply(remote, step) == _apply(local, step), step
        assert _token_stages(remote) == _token_stages(local), step
    assert _revealed(remote) == _revealed(local)


@pytest.mark.xfail(strict=True, reason="moto 5.2.5: update_secret_version_stage leaves its internal default "
                                       "version stale, so the next plain put labels two versions AWSCURRENT")
def test_moto_gap_plain_put_after_a_label_move(aws):
    """AWS moves AWSCURRENT to the new version and AWSPREVIOUS to the one that held it. When this
    starts passing, moto is fixed and the `ensure`-first rule in STEPS can go."""
    store = AwsSecretsManagerStore(NAME, "us-east-1")
    store.ensure(OLD)
    rotate(store)

    store.ensure(Secret("sk-third-2222222222222222222222222"))

    assert values(store) == {"current": Secret("sk-third-2222222222222222222222222"), "pending": None,
                             "previous": NEW}


# --- open_store and partitions -------------------------------------------------------------


def _spec(**fields) -> StackSpec:
    return StackSpec.model_validate({"stack": "dev", "providers": ["moonshot"],
                                     "targets": [{"kind": "file", "path": "out/openclaw.json5"}], **fields})


def test_open_store_local_default_path(tmp_path):
    store = open_store(_spec(), "moonshot", tmp_path)
    assert isinstance(store, LocalFileStore)
    assert store.path == tmp_path / ".kimi-infra/dev/secrets.json"
    assert store.name == "kimi-infra/dev/moonshot"


@pytest.mark.parametrize(("given_path", "expected"), [("keys/dev.json", "{project}/keys/dev.json"),
                                                       ("/srv/keys.json", "/srv/keys.json")])
def test_open_store_local_path_from_the_stack_file(tmp_path, given_path, expected):
    store = open_store(_spec(secretStore={"kind": "local", "path": given_path}), "kimi-code", tmp_path)
    assert store.path == Path(expected.format(project=tmp_path))
    assert store.name == "kimi-infra/dev/kimi-code"


def test_open_store_aws():
    spec = _spec(stack="prod-cn", secretStore={"kind": "aws-secrets-manager", "region": "cn-north-1",
                                               "kmsKeyId": "alias/kimi", "profile": "cn-admin"})
    store = open_store(spec, "moonshot", PROJECT_DIR)
    assert isinstance(store, AwsSecretsManagerStore)
    assert vars(store) == {"name": "kimi-infra/prod-cn/moonshot", "region": "cn-north-1", "kms_key_id": "alias/kimi",
                           "profile": "cn-admin",
                           "tags": {"stack": "prod-cn", "provider": "moonshot", "managed-by": "kimi-infra"}}
    assert store.partition == "aws-cn"


def test_the_local_path_never_imports_boto3(tmp_path):
    program = (
        "import sys\n"
        "from pathlib import Path\n"
        "from kimi_infra.models import StackSpec\n"
        "from kimi_infra.secret import Secret\n"
        "from kimi_infra.stores import open_store\n"
        "spec = StackSpec.model_validate({'stack': 'dev', 'providers': ['moonshot'],"
        " 'targets': [{'kind': 'file', 'path': 'o.json5'}]})\n"
        f"store = open_store(spec, 'moonshot', Path({str(tmp_path)!r}))\n"
        "store.ensure(Secret('sk-local-000000000000000000000000'))\n"
        "assert store.get().reveal() == 'sk-local-000000000000000000000000'\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))\n"
    )
    result = subprocess.run([sys.executable, "-c", program], cwd=PROJECT_DIR, capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(("region", "partition"), [("us-east-1", "aws"), ("eu-central-1", "aws"),
                                                   ("ap-southeast-1", "aws"), ("cn-north-1", "aws-cn"),
                                                   ("cn-northwest-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov")])
def test_partition_for_region(region, partition):
    assert partition_for_region(region) == partition
