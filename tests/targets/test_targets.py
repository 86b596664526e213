"""Targets against a real moto_server, with every AWS API call counted, and the local file target.

Covers issue 5's acceptance: no-op writes make no write call, racing S3 writers conflict instead
of losing an update, a failed local write leaves the old file, SSM tiers by size, and secret
content is protected and never shows up in a log line or an error.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import stat
import subprocess
import sys
import traceback
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from pydantic import TypeAdapter

from kimi_infra.content_hash import PLAIN, ContentHasher
from kimi_infra.models import StackSpec, TargetSpec
from kimi_infra.render import Rendered
from kimi_infra.targets import ConflictError, LocalFileTarget, TargetError, open_stack_target, open_target
from kimi_infra.targets import local_file as local_file_module
from kimi_infra.targets.base import aws_errors
from kimi_infra.targets.s3 import HASH_METADATA, S3Target
from kimi_infra.targets.ssm import ADVANCED_LIMIT, STANDARD_LIMIT, SsmParameterTarget, tier_for
from tests.support.moto import create_bucket
from tests.support.project import CANARY_KEY, PROJECT_DIR

REGION = "us-east-1"
CN_REGION = "cn-north-1"
KEY = "prod/openclaw.json5"
PARAMETER = "/kimi-infra/prod/openclaw"
KMS_KEY = "alias/kimi-infra-test"
SECRET_TEXT = f'{{ env: {{ vars: {{ MOONSHOT_API_KEY: "{CANARY_KEY}" }} }} }}\n'


def rendered(text: str, secret: bool = False) -> Rendered:
    return Rendered(text=text, content_hash=PLAIN.of_text(text), holds_secret=secret)


def sized(size: int, tag: str = "config") -> str:
    """A text of exactly `size` UTF-8 bytes."""
    return tag + "x" * (size - len(tag))


class Admin:
    """The test's own clients, made once per run and before `aws_calls` patches client creation,
    so their calls are never counted (building a client costs 0.1-0.3 s)."""

    def __init__(self, endpoint: str) -> None:
        session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
        self._clients = {(service, region): session.client(service, region_name=region, endpoint_url=endpoint)
                         for service in ("s3", "ssm") for region in (REGION, CN_REGION)}

    def s3(self, region: str = REGION):
        return self._clients["s3", region]

    def ssm(self, region: str = REGION):
        return self._clients["ssm", region]

    def make_bucket(self, name: str, region: str = REGION, versioned: bool = True) -> str:
        return create_bucket(name, region, versioned, s3=self.s3(region))

    def parameter(self, name: str = PARAMETER, region: str = REGION) -> dict:
        found = self.ssm(region).describe_parameters(
            ParameterFilters=[{"Key": "Name", "Option": "Equals", "Values": [name]}])["Parameters"]
        return found[0]


def operations(aws_calls) -> list[str]:
    return [op for _, op, _ in aws_calls.calls]


@pytest.fixture(scope="session")
def admin(moto_server) -> Admin:
    return Admin(moto_server.endpoint)


@pytest.fixture
def bucket(aws, admin) -> str:
    return admin.make_bucket("kimi-infra-test")


@pytest.fixture
def s3_target(bucket) -> S3Target:
    return S3Target(name="s3", bucket=bucket, key=KEY, region=REGION, kms_key_id=KMS_KEY)


@pytest.fixture
def ssm_target(aws) -> SsmParameterTarget:
    return SsmParameterTarget(name="ssm", parameter=PARAMETER, region=REGION, kms_key_id=KMS_KEY)


@pytest.fixture
def file_target(tmp_path) -> LocalFileTarget:
    return LocalFileTarget(name="file", path=tmp_path / "deep" / "er" / "openclaw.json5",
                           history_path=tmp_path / "history" / "file.jsonl")


@pytest.fixture
def atomic_writes(monkeypatch) -> list[Path]:
    """Paths passed to write_atomic by the local target: its 'write calls'."""
    calls: list[Path] = []
    real = local_file_module.write_atomic

    def spy(path, data, mode):
        calls.append(path)
        real(path, data, mode)

    monkeypatch.setattr(local_file_module, "write_atomic", spy)
    return calls


# --- moto facts the targets rely on ---------------------------------------------------------


def test_moto_enforces_s3_conditional_puts(bucket, admin):
    client = admin.s3()
    first = client.put_object(Bucket=bucket, Key=KEY, Body=b"a", IfNoneMatch="*")
    for condition in ({"IfNoneMatch": "*"}, {"IfMatch": '"0000"'}):
        with pytest.raises(ClientError) as caught:
            client.put_object(Bucket=bucket, Key=KEY, Body=b"b", **condition)
        assert caught.value.response["Error"]["Code"] == "PreconditionFailed"
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    client.put_object(Bucket=bucket, Key=KEY, Body=b"c", IfMatch=first["ETag"])


# --- acceptance 1: first write creates, same content writes nothing, new content once -------


def test_local_write_counts(file_target, atomic_writes):
    assert file_target.write(rendered("one\n")) == "written"
    assert file_target.path.read_text() == "one\n"  # parent folders created
    assert file_target.write(rendered("one\n")) == "unchanged"
    assert len(atomic_writes) == 1
    assert file_target.write(rendered("two\n")) == "written"
    assert len(atomic_writes) == 2


def test_s3_write_counts(s3_target, aws_calls, admin):
    assert s3_target.write(rendered("one\n")) == "written"
    assert operations(aws_calls) == ["GetObject", "PutObject"]
    aws_calls.clear()
    assert s3_target.write(rendered("one\n")) == "unchanged"
    assert aws_calls.writes() == []
    aws_calls.clear()
    assert s3_target.write(rendered("two\n")) == "written"
    assert aws_calls.writes() == ["PutObject"]
    assert admin.s3().get_object(Bucket=s3_target.bucket, Key=KEY)["Body"].read() == b"two\n"


def test_ssm_write_counts(ssm_target, aws_calls):
    assert ssm_target.write(rendered("one\n")) == "written"
    assert operations(aws_calls) == ["GetParameter", "PutParameter"]
    aws_calls.clear()
    assert ssm_target.write(rendered("one\n")) == "unchanged"
    assert aws_calls.writes() == []
    aws_calls.clear()
    assert ssm_target.write(rendered("two\n")) == "written"
    assert aws_calls.writes() == ["PutParameter"]
    assert ssm_target.read().content_hash == PLAIN.of_text("two\n")


# --- acceptance 2: racing S3 writers ----------------------------------------------------------


def test_s3_racing_writers_one_wins_and_nothing_is_lost(bucket):
    first, second = (S3Target(name="s3", bucket=bucket, key=KEY, region=REGION) for _ in range(2))
    base, ours, theirs = rendered("base\n"), rendered("ours\n"), rendered("theirs\n")
    first.write(base)
    seen_by_first, seen_by_second = first.snapshot(), second.snapshot()
    assert seen_by_first.etag == seen_by_second.etag

    assert first.conditional_write(ours, seen_by_first) == "written"
    with pytest.raises(ConflictError) as caught:
        second.conditional_write(theirs, seen_by_second)

    assert f"s3://{bucket}/{KEY}" in str(caught.value)
    assert first.read().content_hash == ours.content_hash  # the loser overwrote nothing
    assert second.write(theirs) == "written"  # a fresh read deploys on top
    assert [r.content_hash for r in first.history()] == [theirs.content_hash, ours.content_hash, base.content_hash]


def test_s3_racing_first_writers_use_if_none_match(bucket):
    first, second = (S3Target(name="s3", bucket=bucket, key=KEY, region=REGION) for _ in range(2))
    seen_by_first, seen_by_second = first.snapshot(), second.snapshot()
    assert seen_by_first.deployed is None and seen_by_second.deployed is None

    first.conditional_write(rendered("ours\n"), seen_by_first)
    with pytest.raises(ConflictError, match=f"s3://{bucket}/{KEY}"):
        second.conditional_write(rendered("theirs\n"), seen_by_second)
    assert first.read().content_hash == PLAIN.of_text("ours\n")


def test_s3_object_deleted_after_read_is_a_conflict(s3_target, admin):
    s3_target.write(rendered("base\n"))
    seen = s3_target.snapshot()
    admin.s3().delete_object(Bucket=s3_target.bucket, Key=KEY)
    with pytest.raises(ConflictError):
        s3_target.conditional_write(rendered("new\n"), seen)


# --- acceptance 3: local crash safety and modes ----------------------------------------------


@pytest.mark.parametrize("failing", ["replace", "fsync"])
def test_failed_local_write_keeps_previous_file(file_target, monkeypatch, failing):
    file_target.write(rendered("old\n"))

    def broken(*_args, **_kwargs):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, failing, broken)
    with pytest.raises(TargetError) as caught:
        file_target.write(rendered(SECRET_TEXT, secret=True))
    monkeypatch.undo()

    assert file_target.path.read_text() == "old\n"
    assert os.listdir(file_target.path.parent) == [file_target.path.name]  # no temp file left
    message = str(caught.value)
    assert message.startswith(f"{file_target.path}: cannot write: Input/output error; fix: ")
    assert CANARY_KEY not in message
    assert [r.content_hash for r in file_target.history()] == [PLAIN.of_text("old\n")]  # failed write not recorded


@pytest.mark.parametrize(("secret", "mode"), [(True, 0o600), (False, 0o644)])
def test_local_mode_follows_secrecy(file_target, secret, mode):
    file_target.write(rendered(SECRET_TEXT if secret else "public\n", secret=secret))
    assert stat.S_IMODE(file_target.path.stat().st_mode) == mode
    assert file_target.read().protected is secret


def test_local_same_bytes_now_secret_only_chmods(file_target, atomic_writes):
    file_target.write(rendered(SECRET_TEXT, secret=False))
    inode = file_target.path.stat().st_ino

    assert file_target.write(rendered(SECRET_TEXT, secret=True)) == "written"

    assert stat.S_IMODE(file_target.path.stat().st_mode) == 0o600
    assert file_target.path.stat().st_ino == inode and len(atomic_writes) == 1  # no rewrite
    assert len(file_target.history()) == 1  # content did not change


def test_local_unchanged_content_never_loses_protection(file_target):
    file_target.write(rendered("same\n", secret=True))
    assert file_target.write(rendered("same\n", secret=False)) == "unchanged"
    assert stat.S_IMODE(file_target.path.stat().st_mode) == 0o600


def test_local_history_and_edits_behind_our_back(file_target):
    one, two = rendered("one\n"), rendered("two\n")
    for each in (one, one, two):
        file_target.write(each)

    history = file_target.history()
    assert [(r.revision, r.content_hash) for r in history] == [("2", two.content_hash), ("1", one.content_hash)]
    assert history[0].time >= history[1].time
    lines = file_target.history_path.read_text().splitlines()
    assert [set(json.loads(line)) for line in lines] == [{"revision", "contentHash", "time"}] * 2
    assert file_target.read().revision == "2"

    file_target.path.write_text("edited by hand\n")
    assert file_target.read().content_hash == PLAIN.of_text("edited by hand\n")
    assert file_target.read().revision is None
    assert file_target.write(two) == "written"
    assert file_target.read().revision == "3"


def test_local_without_history_file(tmp_path):
    target = LocalFileTarget(name="file", path=tmp_path / "openclaw.json5")
    target.write(rendered("one\n"))
    assert target.history() == []
    assert target.read().revision is None


def test_local_bad_history_line_is_a_clear_error(file_target):
    file_target.write(rendered("one\n"))
    with file_target.history_path.open("a") as handle:
        handle.write("not json\n")
    with pytest.raises(TargetError, match=r"file\.jsonl: cannot read: line 2 is not a history record; fix: "):
        file_target.history()


def test_local_delete(file_target):
    assert file_target.delete() is False
    file_target.write(rendered("one\n"))
    assert file_target.delete() is True
    assert file_target.read() is None
    assert file_target.delete() is False


# --- acceptance 4: SSM tiers ------------------------------------------------------------------


@pytest.mark.parametrize(("size", "tier"), [(3 * 1024, "Standard"), (6 * 1024, "Advanced")])
def test_ssm_tier_by_size(ssm_target, size, tier, admin):
    ssm_target.write(rendered(sized(size)))
    assert admin.parameter()["Tier"] == tier


def test_ssm_refuses_9kb_before_any_call(ssm_target, aws_calls):
    with pytest.raises(TargetError) as caught:
        ssm_target.write(rendered(sized(9 * 1024, tag=CANARY_KEY), secret=True))
    assert aws_calls.calls == []
    message = str(caught.value)
    assert message.startswith(f"ssm:{REGION}:{PARAMETER}: cannot write: the config is 9216 bytes")
    assert "fix: deploy it to an s3 or file target" in message and CANARY_KEY not in message


@pytest.mark.parametrize(("size", "tier"), [
    (STANDARD_LIMIT, "Standard"), (STANDARD_LIMIT + 1, "Advanced"), (ADVANCED_LIMIT, "Advanced"),
])
def test_tier_limits_are_bytes(size, tier):
    assert tier_for("ssm:x", rendered(sized(size))) == tier


def test_tier_counts_utf8_bytes_not_characters():
    assert tier_for("ssm:x", rendered("é" * (STANDARD_LIMIT // 2 + 1))) == "Advanced"
    with pytest.raises(TargetError):
        tier_for("ssm:x", rendered(sized(ADVANCED_LIMIT + 1)))


def test_ssm_keeps_advanced_tier_when_content_shrinks(ssm_target, admin):
    # AWS refuses an Advanced -> Standard downgrade; moto would allow it, so this is our rule.
    ssm_target.write(rendered(sized(6 * 1024)))
    ssm_target.write(rendered(sized(3 * 1024)))
    assert admin.parameter()["Tier"] == "Advanced"
    assert ssm_target.read().content_hash == PLAIN.of_text(sized(3 * 1024))


# --- acceptance 5: secret content is protected ----------------------------------------------


def test_s3_secret_content_uses_sse_kms(s3_target, admin):
    secret = rendered(SECRET_TEXT, secret=True)
    s3_target.write(secret)
    head = admin.s3().head_object(Bucket=s3_target.bucket, Key=KEY)
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == KMS_KEY
    assert head["Metadata"][HASH_METADATA] == secret.content_hash
    assert s3_target.read().protected is True


def test_s3_public_content_uses_bucket_default(s3_target, admin):
    s3_target.write(rendered("public\n"))
    head = admin.s3().head_object(Bucket=s3_target.bucket, Key=KEY)
    assert head.get("ServerSideEncryption") != "aws:kms"
    assert s3_target.read().protected is False


def test_s3_same_bytes_now_secret_are_rewritten_encrypted(s3_target, aws_calls, admin):
    s3_target.write(rendered(SECRET_TEXT, secret=False))
    aws_calls.clear()
    assert s3_target.write(rendered(SECRET_TEXT, secret=True)) == "written"
    assert aws_calls.writes() == ["PutObject"]
    assert admin.s3().head_object(Bucket=s3_target.bucket, Key=KEY)["ServerSideEncryption"] == "aws:kms"
    assert s3_target.write(rendered(SECRET_TEXT, secret=False)) == "unchanged"  # never weakened


def test_ssm_secret_content_is_securestring(ssm_target, admin):
    ssm_target.write(rendered(SECRET_TEXT, secret=True))
    described = admin.parameter()
    assert described["Type"] == "SecureString"
    assert described["KeyId"] == KMS_KEY
    assert ssm_target.read().protected is True


def test_ssm_string_becomes_securestring_by_recreating(ssm_target, aws_calls, admin):
    # AWS refuses String -> SecureString on overwrite (HierarchyTypeMismatchException); moto
    # allows it, so the call sequence is what proves we never ask for it.
    ssm_target.write(rendered("public\n"))
    aws_calls.clear()
    ssm_target.write(rendered(SECRET_TEXT, secret=True))
    assert operations(aws_calls) == ["GetParameter", "DeleteParameter", "PutParameter"]
    assert admin.parameter()["Type"] == "SecureString"


def test_ssm_securestring_stays_securestring(ssm_target, aws_calls, admin):
    ssm_target.write(rendered(SECRET_TEXT, secret=True))
    aws_calls.clear()
    assert ssm_target.write(rendered("public now\n")) == "written"
    assert "DeleteParameter" not in operations(aws_calls)
    assert admin.parameter()["Type"] == "SecureString"
    assert ssm_target.read().content_hash == PLAIN.of_text("public now\n")


def test_secret_never_reaches_logs_or_errors(aws, bucket, file_target, caplog, monkeypatch):
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="kimi_infra")
    secret = rendered(SECRET_TEXT, secret=True)
    targets = [file_target, S3Target(name="s3", bucket=bucket, key=KEY, region=REGION),
               SsmParameterTarget(name="ssm", parameter=PARAMETER, region=REGION)]
    for target in targets:
        target.write(secret)
        target.write(secret)
        target.read()
        target.history()
        target.delete()

    failures = [
        lambda: S3Target(name="s3", bucket="no-such-bucket", key=KEY, region=REGION).write(secret),
        lambda: SsmParameterTarget(name="ssm", parameter=PARAMETER, region=REGION).write(
            rendered(SECRET_TEXT * 200, secret=True)),
        lambda: _write_with_broken_replace(file_target, secret, monkeypatch),
    ]
    errors = [_raised(attempt) for attempt in failures]

    assert "written" in caplog.text and "deleted" in caplog.text  # the logs were captured
    assert CANARY_KEY not in caplog.text
    for error in errors:
        shown = "".join(traceback.format_exception(error))
        assert CANARY_KEY not in shown and CANARY_KEY not in repr(error)
        assert "\n" not in str(error) and "fix: " in str(error)
    assert logging.getLogger("botocore").level == logging.NOTSET  # we never turn on its body logging


def _write_with_broken_replace(target: LocalFileTarget, content: Rendered, monkeypatch) -> None:
    target.write(rendered("old\n"))
    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", lambda *_: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left")))
        target.write(content)


def _raised(attempt) -> TargetError:
    with pytest.raises(TargetError) as caught:
        attempt()
    return caught.value


# --- reads, history, delete -------------------------------------------------------------------


def test_s3_read_hashes_the_actual_bytes(s3_target, admin):
    ours = rendered("ours\n")
    s3_target.write(ours)
    # An edit behind our back, even one that copies our metadata, shows in read().
    admin.s3().put_object(Bucket=s3_target.bucket, Key=KEY, Body=b"edited\n",
                          Metadata={HASH_METADATA: ours.content_hash})
    assert s3_target.read().content_hash == hashlib.sha256(b"edited\n").hexdigest()
    assert s3_target.write(ours) == "written"


def test_s3_history_of_a_versioned_bucket(s3_target, aws_calls, admin):
    contents = [rendered(f"v{n}\n") for n in range(3)]
    for each in [*contents, contents[-1]]:
        s3_target.write(each)
    admin.s3().put_object(Bucket=s3_target.bucket, Key=KEY + ".bak", Body=b"other key, same prefix")
    aws_calls.clear()

    history = s3_target.history()

    assert aws_calls.by_operation() == {"ListObjectVersions": 1, "HeadObject": 3}
    assert [r.content_hash for r in history] == [c.content_hash for c in reversed(contents)]
    listed = admin.s3().list_object_versions(Bucket=s3_target.bucket, Prefix=KEY)["Versions"]
    assert [r.revision for r in history] == [v["VersionId"] for v in listed if v["Key"] == KEY]
    assert history[0].revision == s3_target.read().revision


def test_s3_history_of_an_unversioned_bucket_is_the_current_object(aws, admin):
    target = S3Target(name="s3", bucket=admin.make_bucket("kimi-infra-plain", versioned=False), key=KEY, region=REGION)
    target.write(rendered("one\n"))
    target.write(rendered("two\n"))
    history = target.history()
    assert [r.content_hash for r in history] == [PLAIN.of_text("two\n")]
    assert history[0].revision == target.read().revision == target.snapshot().etag


def test_s3_delete_leaves_a_delete_marker(s3_target, aws_calls):
    assert s3_target.delete() is False
    s3_target.write(rendered("one\n"))
    assert s3_target.delete() is True
    assert s3_target.read() is None
    assert [r.content_hash for r in s3_target.history()] == [PLAIN.of_text("one\n")]  # the version survives
    aws_calls.clear()
    assert s3_target.delete() is False
    assert aws_calls.writes() == []


def test_ssm_history_pages_and_newest_first(ssm_target, admin):
    client = admin.ssm()
    for n in range(1, 56):  # moto pages history 50 at a time
        client.put_parameter(Name=PARAMETER, Value=f"v{n}\n", Type="String", Overwrite=True)
    history = ssm_target.history()
    assert [r.revision for r in history[:2]] == ["55", "54"] and len(history) == 55
    assert history[0].content_hash == PLAIN.of_text("v55\n") and history[-1].content_hash == PLAIN.of_text("v1\n")
    assert ssm_target.read().revision == "55"


def test_ssm_delete_and_missing_parameter(ssm_target):
    assert ssm_target.read() is None and ssm_target.history() == [] and ssm_target.delete() is False
    ssm_target.write(rendered("one\n"))
    assert ssm_target.delete() is True
    assert ssm_target.read() is None


def test_aws_targets_work_in_aws_cn(aws, aws_calls, admin):
    bucket = admin.make_bucket("kimi-infra-cn", region=CN_REGION)
    s3 = S3Target(name="s3", bucket=bucket, key=KEY, region=CN_REGION)
    ssm = SsmParameterTarget(name="ssm", parameter=PARAMETER, region=CN_REGION)
    aws_calls.clear()
    for target in (s3, ssm):
        assert target.write(rendered(SECRET_TEXT, secret=True)) == "written"
        assert target.write(rendered(SECRET_TEXT, secret=True)) == "unchanged"
    assert {region for _, _, region in aws_calls.calls} == {CN_REGION}
    arn = admin.ssm(CN_REGION).get_parameter(Name=PARAMETER)["Parameter"]["ARN"]
    assert arn.startswith("arn:aws-cn:ssm:cn-north-1:")


# --- errors -----------------------------------------------------------------------------------


def test_missing_bucket_names_target_and_fix(aws):
    target = S3Target(name="s3", bucket="no-such-bucket", key=KEY, region=REGION)
    with pytest.raises(TargetError) as caught:
        target.read()
    assert str(caught.value) == (f"s3://no-such-bucket/{KEY}: cannot read: the bucket does not exist; "
                                 "fix: create it, or correct `bucket` and `region` in the stack file")
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_unreachable_endpoint(aws, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(TargetError, match=r"^ssm:us-east-1:/kimi-infra/prod/openclaw: cannot read: cannot reach "):
        SsmParameterTarget(name="ssm", parameter=PARAMETER, region=REGION).read()


def test_no_credentials(aws, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(TargetError, match="no AWS credentials found; fix: set AWS_PROFILE"):
        S3Target(name="s3", bucket="kimi-infra-test", key=KEY, region=REGION).read()


@pytest.mark.parametrize(("code", "kind", "phrase"), [
    ("AccessDenied", TargetError, "access denied; fix: allow the AWS identity in use this call"),
    ("AccessDeniedException", TargetError, "access denied"),
    ("PreconditionFailed", ConflictError, "another writer changed it"),
    ("ConditionalRequestConflict", ConflictError, "another writer changed it"),
    ("ParameterAlreadyExists", ConflictError, "another writer changed it"),
    ("KMS.NotFoundException", TargetError, "the KMS key cannot be used; fix: check `kmsKeyId`"),
    ("InvalidKeyId", TargetError, "the KMS key cannot be used"),
    ("ExpiredToken", TargetError, "AWS rejected the credentials"),
    ("ThrottlingException", TargetError, "throttling"),
    ("HierarchyTypeMismatchException", TargetError, "cannot change this parameter's type"),
    ("SomethingNew", TargetError, "AWS answered SomethingNew; fix: "),
])
def test_aws_error_codes_become_one_line_errors(code, kind, phrase):
    # AWS's message may echo what we sent; it must never reach ours.
    error = ClientError({"Error": {"Code": code, "Message": f"value {CANARY_KEY} rejected"}}, "PutObject")
    with pytest.raises(kind) as caught, aws_errors("s3://b/k", "write"):
        raise error
    message = str(caught.value)
    assert message.startswith("s3://b/k: cannot write: ") and phrase in message
    assert CANARY_KEY not in message and "\n" not in message


# --- factory, imports, pickling ----------------------------------------------------------------


def spec(**values) -> TargetSpec:
    return TypeAdapter(TargetSpec).validate_python(values)


def test_open_target_builds_each_kind(tmp_path):
    history_dir = tmp_path / "history"
    assert open_target(spec(kind="file", name="local", path="out/openclaw.json5"), tmp_path, history_dir) == \
        LocalFileTarget(name="local", path=tmp_path / "out/openclaw.json5", history_path=history_dir / "local.jsonl")
    assert open_target(spec(kind="file", path="/etc/openclaw/openclaw.json5"), tmp_path) == \
        LocalFileTarget(name="file", path=Path("/etc/openclaw/openclaw.json5"))
    assert open_target(spec(kind="s3", bucket="cfg-bucket", key=KEY, region=CN_REGION, kmsKeyId="k"), tmp_path) == \
        S3Target(name="s3", bucket="cfg-bucket", key=KEY, region=CN_REGION, kms_key_id="k")
    assert open_target(spec(kind="ssm", name="param", parameter=PARAMETER, region=REGION), tmp_path) == \
        SsmParameterTarget(name="param", parameter=PARAMETER, region=REGION)


def test_open_stack_target_keeps_file_history_per_stack(tmp_path):
    stack = StackSpec.model_validate({"stack": "prod", "providers": ["moonshot"],
                                      "targets": [{"kind": "file", "path": "out.json5"}]})
    target = open_stack_target(stack, stack.targets[0], tmp_path, PLAIN)
    assert target.history_path == tmp_path / ".kimi-infra" / "prod" / "history" / "file.jsonl"


def test_locations():
    assert S3Target(name="s3", bucket="b-1", key="a/b", region=REGION).location == "s3://b-1/a/b"
    assert SsmParameterTarget(name="ssm", parameter="/p", region=CN_REGION).location == "ssm:cn-north-1:/p"
    assert LocalFileTarget(name="file", path=Path("/x/y.json5")).location == "/x/y.json5"


def test_importing_targets_does_not_load_boto3():
    code = ("import sys, kimi_infra.targets; "
            "assert not {'boto3', 'botocore'} & set(sys.modules), 'boto3 loaded'")
    subprocess.run([sys.executable, "-c", code], cwd=PROJECT_DIR, check=True, timeout=60)


def test_targets_hold_plain_data_and_pickle_with_dill(bucket, file_target):
    import dill

    content = rendered("one\n")
    for target in (file_target, S3Target(name="s3", bucket=bucket, key=KEY, region=REGION),
                   SsmParameterTarget(name="ssm", parameter=PARAMETER, region=REGION)):
        target.write(content)
        assert all(isinstance(value, (str, Path, ContentHasher, type(None))) for value in vars(target).values())
        clone = dill.loads(dill.dumps(target, recurse=True))
        assert clone == target and clone.read().content_hash == content.content_hash
