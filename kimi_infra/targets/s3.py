"""An S3 object that gateway hosts pull: SSE-KMS when it holds a key, conditional writes.

Every write is conditional on what was read just before: `IfMatch` on that ETag, or
`IfNoneMatch="*"` when there was no object. A concurrent writer therefore gets a ConflictError
instead of silently overwriting (a lost update). `write` reads and writes in one go;
`snapshot` + `conditional_write` split the two so callers (and tests) can hold a read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from botocore.exceptions import ClientError

from kimi_infra.render import Rendered
from kimi_infra.targets.base import (
    AwsTarget,
    Deployed,
    Revision,
    RevisionText,
    WriteOutcome,
    aws_errors,
    conflict,
    is_current,
    log_deleted,
    log_outcome,
)

HASH_METADATA = "kimi-infra-content-hash"  # sent as x-amz-meta-kimi-infra-content-hash
HISTORY_LIMIT = 50  # history() heads each version once; this bounds the calls
CONTENT_TYPE = "application/json5"


@dataclass(frozen=True)
class S3Snapshot:
    """The object as one read saw it, and the ETag a conditional write must still match."""

    deployed: Deployed | None
    etag: str | None


@dataclass(frozen=True, kw_only=True)
class S3Target(AwsTarget):
    """s3://bucket/key in `region` (aws or aws-cn partition); `kms_key_id` for secret content
    (None: the account's aws/s3 key)."""

    service: ClassVar[str] = "s3"
    bucket: str
    key: str

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def read(self) -> Deployed | None:
        """GetObject and hash the bytes; revision = VersionId (versioned bucket) or ETag."""
        return self.snapshot().deployed

    def read_text(self) -> str | None:
        """The object's text (GetObject), or None when there is no object."""
        with aws_errors(self.location, "read"):
            client = self._client()
            try:
                answer = client.get_object(Bucket=self.bucket, Key=self.key)
            except client.exceptions.NoSuchKey:
                return None
            return answer["Body"].read().decode("utf-8", errors="replace")

    def snapshot(self) -> S3Snapshot:
        """Read the object once, for a later `conditional_write`."""
        with aws_errors(self.location, "read"):
            return self._snapshot(self._client())

    def write(self, rendered: Rendered) -> WriteOutcome:
        """Read, then write unless current; ConflictError if another writer got in between."""
        with aws_errors(self.location, "write"):
            client = self._client()
            return self._write(client, self._snapshot(client), rendered)

    def conditional_write(self, rendered: Rendered, based_on: S3Snapshot) -> WriteOutcome:
        """Write `rendered` only if the object is still as `based_on` saw it; otherwise raise
        ConflictError naming s3://bucket/key, and nothing is overwritten."""
        with aws_errors(self.location, "write"):
            return self._write(self._client(), based_on, rendered)

    def delete(self) -> bool:
        """DeleteObject on the key, without a version: a versioned bucket gets a delete marker
        (older versions stay, so `history` still lists them); an unversioned one loses the object."""
        with aws_errors(self.location, "delete"):
            client = self._client()
            if not self._exists(client):
                return False
            client.delete_object(Bucket=self.bucket, Key=self.key)
        log_deleted(self.location)
        return True

    def history(self) -> list[Revision]:
        """The key's versions, newest first (at most HISTORY_LIMIT; just the current object
        when the bucket is unversioned). The hash comes from the metadata we wrote, so it is
        None for a version someone else wrote. Costs one listing plus one HEAD per version."""
        with aws_errors(self.location, "list versions"):
            client = self._client()
            return [self._revision(client, version) for version in self._versions(client)]

    def revision_text(self, revision: str) -> RevisionText | None:
        """GetObject of that VersionId, with the hash in its metadata; None when the bucket has no
        such version."""
        with aws_errors(self.location, "read a version of"):
            client = self._client()
            try:
                answer = client.get_object(Bucket=self.bucket, Key=self.key, VersionId=revision)
            except ClientError as error:
                if error.response["Error"]["Code"] in ("NoSuchVersion", "NoSuchKey", "InvalidArgument", "400"):
                    return None
                raise
            return RevisionText(answer["Body"].read().decode("utf-8", errors="replace"),
                                answer.get("Metadata", {}).get(HASH_METADATA))

    def _snapshot(self, client: Any) -> S3Snapshot:
        try:
            answer = client.get_object(Bucket=self.bucket, Key=self.key)
        except client.exceptions.NoSuchKey:
            return S3Snapshot(deployed=None, etag=None)
        deployed = Deployed(
            content_hash=self.hasher.of_bytes(answer["Body"].read()),
            revision=_revision_id(answer.get("VersionId"), answer["ETag"]),
            modified=answer.get("LastModified"),
            protected=answer.get("ServerSideEncryption", "").startswith("aws:kms"),
        )
        return S3Snapshot(deployed=deployed, etag=answer["ETag"])

    def _exists(self, client: Any) -> bool:
        try:
            client.head_object(Bucket=self.bucket, Key=self.key)
        except ClientError as error:
            if error.response["Error"]["Code"] in ("404", "NoSuchKey"):  # HEAD errors have no body
                return False
            raise
        return True

    def _write(self, client: Any, based_on: S3Snapshot, rendered: Rendered) -> WriteOutcome:
        if is_current(based_on.deployed, rendered):
            log_outcome(self.location, "unchanged", rendered)
            return "unchanged"
        condition = {"IfMatch": based_on.etag} if based_on.etag else {"IfNoneMatch": "*"}
        try:
            client.put_object(Bucket=self.bucket, Key=self.key, Body=rendered.text.encode("utf-8"),
                              ContentType=CONTENT_TYPE, Metadata={HASH_METADATA: rendered.content_hash},
                              **condition, **self._encryption(rendered))
        except client.exceptions.NoSuchKey:
            raise conflict(self.location) from None  # IfMatch on an object deleted since our read
        log_outcome(self.location, "written", rendered)
        return "written"

    def _encryption(self, rendered: Rendered) -> dict[str, str]:
        if not rendered.holds_secret:
            return {}  # the bucket's default encryption applies
        key = {"SSEKMSKeyId": self.kms_key_id} if self.kms_key_id else {}
        return {"ServerSideEncryption": "aws:kms", **key}

    def _versions(self, client: Any) -> list[dict]:
        found: list[dict] = []
        pages = client.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=self.key)
        for page in pages:
            # The prefix also matches longer keys; S3 lists keys in order (ours, the shortest, first)
            # and each key's versions newest first. A longer key means ours is done: the fleet's
            # reports (`<key>.fleet/reports/...`) gain a version every heartbeat, by the million.
            versions = page.get("Versions", [])
            found += [v for v in versions if v["Key"] == self.key]
            if len(found) >= HISTORY_LIMIT or any(v["Key"] != self.key for v in versions):
                break
        return found[:HISTORY_LIMIT]

    def _revision(self, client: Any, version: dict) -> Revision:
        version_id = version["VersionId"]
        # An unversioned object has VersionId "null"; moto rejects it in HeadObject, AWS accepts it.
        pinned = {} if version_id == "null" and version["IsLatest"] else {"VersionId": version_id}
        head = client.head_object(Bucket=self.bucket, Key=self.key, **pinned)
        return Revision(revision=_revision_id(version_id, version["ETag"]),
                        content_hash=head.get("Metadata", {}).get(HASH_METADATA),
                        time=version.get("LastModified"))


def _revision_id(version_id: str | None, etag: str) -> str:
    return version_id if version_id and version_id != "null" else etag
