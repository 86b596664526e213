"""AWS Secrets Manager store: one secret per provider and stack, rotated with staging labels.

Rotation follows the AWS rotation template: small steps keyed by a token that becomes the
version id, each checking the labels first and returning early when already done, so a run
that crashed half way can simply be run again. `rotate_secret` is never used (it needs a Lambda).

No client lives on `self` or at module level: Pulumi pickles these objects with dill, and a
client cannot be pickled. Every public method makes its own client from plain settings, so the
standard AWS settings (AWS_PROFILE, AWS_ENDPOINT_URL, credentials) are read fresh each time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, ProfileNotFound

from kimi_infra import aws
from kimi_infra.secret import Secret
from kimi_infra.stores import partition_for_region
from kimi_infra.stores.base import (
    EnsureResult,
    SecretDescription,
    SecretNotFoundError,
    SecretVersion,
    Stage,
    StoreAccessError,
    StoreError,
    moved_meanwhile,
    new_salt,
    rollback_step,
    validate_pending,
    validate_token,
    validate_value,
)

LABELS: dict[Stage, str] = {"current": "AWSCURRENT", "pending": "AWSPENDING", "previous": "AWSPREVIOUS"}
STAGES: dict[str, Stage] = {label: stage for stage, label in LABELS.items()}

KMS_CODES = frozenset({
    "KMSDisabledException", "KMSInvalidStateException", "KMSAccessDeniedException", "KMSNotFoundException",
    "DecryptionFailure", "EncryptionFailure",
})

Labels = dict[str, list[str]]  # VersionIdsToStages: version id -> labels


class AwsSecretsManagerStore:
    """One secret in Secrets Manager. Holds only plain data, so it pickles."""

    def __init__(self, name: str, region: str, kms_key_id: str | None = None, profile: str | None = None,
                 tags: Mapping[str, str] | None = None) -> None:
        self.name = name
        self.region = region
        self.kms_key_id = kms_key_id
        self.profile = profile
        self.tags = dict(tags or {})

    def __repr__(self) -> str:
        return f"AwsSecretsManagerStore({self.name!r}, region={self.region!r})"

    @property
    def partition(self) -> str:
        return partition_for_region(self.region)

    # --- the SecretStore protocol -----------------------------------------------------------

    def exists(self) -> bool:
        """Whether the secret exists and is not scheduled for deletion."""
        with self._aws() as client:
            return self._live_answer(client) is not None

    def ensure(self, value: Secret) -> EnsureResult:
        """Create the secret, or put `value` as a new current version if it differs.

        Unchanged: one read, no write. Changed: one put (AWS makes the old current previous).
        """
        validate_value(self.name, value)
        with self._aws() as client:
            try:
                # Reading first costs one call in the common (unchanged) case instead of two.
                answer = client.get_secret_value(SecretId=self.name, VersionStage="AWSCURRENT")
            except client.exceptions.ResourceNotFoundException:
                return self._create(client, value)
            if Secret(answer.get("SecretString", "")) == value:
                return EnsureResult("unchanged", answer["VersionId"], self._arn(answer))
            answer = client.put_secret_value(SecretId=self.name, SecretString=value.reveal())
            return EnsureResult("updated", answer["VersionId"], self._arn(answer))

    def get(self, stage: Stage = "current") -> Secret | None:
        """The value labelled `stage`; None when no version holds it; StoreError if no secret."""
        with self._aws() as client:
            try:
                answer = client.get_secret_value(SecretId=self.name, VersionStage=LABELS[stage])
            except client.exceptions.ResourceNotFoundException:
                # Either the label or the whole secret is missing; only describe can tell.
                self._labels(client)
                return None
        if "SecretString" not in answer:
            raise StoreError(f"the {stage} version holds binary data, not an API key", where=self.name,
                             fix="run `pulumi up` to store the key as text")
        return Secret(answer["SecretString"])

    def stage_pending(self, value: Secret, token: str) -> str:
        """Put `value` as version `token` labelled AWSPENDING; a retry is a no-op."""
        validate_pending(self.name, value, token)
        with self._aws() as client:
            labels = self._labels(client)
            if token not in labels:
                # AWS moves AWSPENDING here from any older pending version.
                client.put_secret_value(SecretId=self.name, ClientRequestToken=token,
                                        SecretString=value.reveal(), VersionStages=["AWSPENDING"])
                return token
            self._require_same_value(client, token, value)
            if not {"AWSPENDING", "AWSCURRENT"} & set(labels[token]):
                self._move_label(client, labels, "AWSPENDING", token)  # discarded before: stage again
        return token

    @property
    def salt_name(self) -> str:
        """The stack's salt secret, `kimi-infra/<stack>/token-salt`: not a provider, so the
        resolver never serves it and the gateway's policy does not name it."""
        return self.name.rsplit("/", 1)[0] + "/token-salt"

    def token_salt(self) -> bytes:
        """The stack's salt from its own secret, created (random, same KMS key) on first use."""
        salt = self.read_salt()
        if salt is not None:
            return salt
        with self._salt_secret()._aws() as client:
            return bytes.fromhex(self._create_salt(client)["SecretString"])

    def read_salt(self) -> bytes | None:
        """The stack's salt, or None while its secret does not exist; creates nothing."""
        with self._salt_secret()._aws() as client:  # a failure names the salt secret, not this key's
            try:
                answer = client.get_secret_value(SecretId=self.salt_name, VersionStage="AWSCURRENT")
            except client.exceptions.ResourceNotFoundException:
                return None
        return bytes.fromhex(answer["SecretString"])

    def _salt_secret(self) -> AwsSecretsManagerStore:
        return AwsSecretsManagerStore(self.salt_name, self.region, self.kms_key_id, self.profile, self.tags)

    def salt_arn(self) -> str | None:
        """The salt secret's ARN as AWS gives it, or None before the first rotation made it."""
        with self._salt_secret()._aws() as client:
            try:
                return self._arn(client.describe_secret(SecretId=self.salt_name))
            except client.exceptions.ResourceNotFoundException:
                return None

    def _create_salt(self, client: Any) -> dict[str, Any]:
        tags = [{"Key": k, "Value": v} for k, v in self.tags.items() if k != "provider"]
        request: dict[str, Any] = {"Name": self.salt_name, "SecretString": new_salt(), "Tags": tags}
        if self.kms_key_id:
            request["KmsKeyId"] = self.kms_key_id
        try:
            client.create_secret(**request)
            return {"SecretString": request["SecretString"]}
        except client.exceptions.ResourceExistsException:  # another rotation made it meanwhile
            return client.get_secret_value(SecretId=self.salt_name, VersionStage="AWSCURRENT")

    def exclusive(self) -> nullcontext[None]:
        """No lock in Secrets Manager: `promote`'s compare-and-set on AWSCURRENT decides."""
        return nullcontext()

    def promote(self, token: str, expected_current: str | None = None) -> None:
        """Make pending version `token` current, then clear its pending label; resumable.

        With `expected_current` a compare-and-set: AWS moves AWSCURRENT only if
        RemoveFromVersionId still holds it, so of two racing rotations exactly one wins."""
        validate_token(self.name, token)
        with self._aws() as client:
            labels = self._labels(client)
            held = labels.get(token)
            if held is None:
                raise StoreError(f"no version {token} to promote ({self.region})", where=self.name,
                                 fix="stage the new key first")
            if "AWSCURRENT" not in held:
                if "AWSPENDING" not in held:
                    raise StoreError(f"version {token} is not pending", where=self.name, fix="stage it again")
                self._swap_current(client, labels, token, expected_current)  # old current becomes previous
            if "AWSPENDING" in held:
                self._clear_pending(client, token)

    def discard_pending(self, token: str | None = None) -> None:
        """Remove the AWSPENDING label (with `token`: only from that version); AWS deprecates
        the unlabelled version later."""
        with self._aws() as client:
            labels = self._labels(client)
            pending = token if token is not None else _holder(labels, "AWSPENDING")
            if pending is None or "AWSPENDING" not in labels.get(pending, []):
                return
            client.update_secret_version_stage(SecretId=self.name, VersionStage="AWSPENDING",
                                               RemoveFromVersionId=pending)

    def rollback(self, expected_current: str | None = None) -> str:
        """Move AWSCURRENT back to the AWSPREVIOUS version in one call (AWS relabels the old
        current AWSPREVIOUS)."""
        with self._aws() as client:
            labels = self._labels(client)
            current, previous = _holder(labels, "AWSCURRENT"), _holder(labels, "AWSPREVIOUS")
            version, move = rollback_step(self.name, current, previous, expected_current)
            if move:
                self._move_label(client, labels, "AWSCURRENT", version)
            return version

    def describe(self) -> SecretDescription:
        """The ARN and labelled versions with dates; never a value."""
        with self._aws() as client:
            return self._description(client, client.describe_secret(SecretId=self.name))

    def describe_if_exists(self) -> SecretDescription | None:
        """`describe()` of a secret that exists and is not scheduled for deletion, else None; one
        describe_secret where `exists()` then `describe()` made two."""
        with self._aws() as client:
            answer = self._live_answer(client)
            return None if answer is None else self._description(client, answer)

    def delete(self) -> None:
        """Schedule deletion with AWS's default recovery window; no-op if gone or scheduled."""
        with self._aws() as client:
            try:
                answer = client.describe_secret(SecretId=self.name)
            except client.exceptions.ResourceNotFoundException:
                return
            if "DeletedDate" not in answer:
                client.delete_secret(SecretId=self.name)

    # --- steps --------------------------------------------------------------------------------

    def _live_answer(self, client: Any) -> Mapping[str, Any] | None:
        """The secret's describe_secret, or None if it does not exist or is scheduled for deletion."""
        try:
            answer = client.describe_secret(SecretId=self.name)
        except client.exceptions.ResourceNotFoundException:
            return None
        return None if "DeletedDate" in answer else answer

    def _description(self, client: Any, answer: Mapping[str, Any]) -> SecretDescription:
        """The description of the secret `answer` (its describe_secret) names: ARN and labelled versions."""
        arn = self._arn(answer)
        versions = [_version(entry) for entry in self._list_versions(client)]
        return SecretDescription(self.name, arn, tuple(v for v in versions if v.stages))

    def _create(self, client: Any, value: Secret) -> EnsureResult:
        request: dict[str, Any] = {"Name": self.name, "SecretString": value.reveal(),
                                   "Tags": [{"Key": k, "Value": v} for k, v in self.tags.items()]}
        if self.kms_key_id:
            request["KmsKeyId"] = self.kms_key_id
        answer = client.create_secret(**request)
        return EnsureResult("created", answer["VersionId"], self._arn(answer))

    def _labels(self, client: Any) -> Labels:
        """Every version's labels in one call; StoreError when the secret is gone or being deleted."""
        answer = client.describe_secret(SecretId=self.name)
        if "DeletedDate" in answer:
            # moto still accepts writes to such a secret; AWS refuses them. Refuse first.
            raise self._scheduled_for_deletion()
        self._arn(answer)  # checks the partition
        return answer.get("VersionIdsToStages", {})

    def _require_same_value(self, client: Any, token: str, value: Secret) -> None:
        # A VersionId names the exact version, as explicit as a label (moto's stale default
        # only bites reads that name neither).
        answer = client.get_secret_value(SecretId=self.name, VersionId=token)
        if Secret(answer.get("SecretString", "")) != value:
            raise StoreError(f"token {token} was already used with a different key", where=self.name,
                             fix="use a new token for a new key")

    def _clear_pending(self, client: Any, token: str) -> None:
        try:
            client.update_secret_version_stage(SecretId=self.name, VersionStage="AWSPENDING",
                                               RemoveFromVersionId=token)
        except ClientError as error:
            # A racing rotation's put took AWSPENDING after our read: nothing left to clear here.
            if error.response.get("Error", {}).get("Code") != "InvalidParameterException":
                raise

    def _swap_current(self, client: Any, labels: Labels, token: str, expected: str | None) -> None:
        current = _holder(labels, "AWSCURRENT")
        if expected is not None and current != expected:
            raise moved_meanwhile(self.name, expected, current)
        try:
            self._move_label(client, labels, "AWSCURRENT", token)
        except ClientError as error:
            # RemoveFromVersionId no longer holds AWSCURRENT: someone moved it after our read.
            if error.response.get("Error", {}).get("Code") == "InvalidParameterException":
                raise moved_meanwhile(self.name, current, "(changed)") from None
            raise

    def _move_label(self, client: Any, labels: Labels, label: str, version_id: str) -> None:
        request = {"SecretId": self.name, "VersionStage": label, "MoveToVersionId": version_id}
        holder = _holder(labels, label)
        if holder is not None:
            # AWS requires naming the version that loses the label (moto would keep both).
            request["RemoveFromVersionId"] = holder
        client.update_secret_version_stage(**request)

    def _list_versions(self, client: Any) -> Iterator[dict[str, Any]]:
        request = {"SecretId": self.name}
        while True:
            page = client.list_secret_version_ids(**request)
            yield from page.get("Versions", [])
            if not page.get("NextToken"):  # moto ends with "", AWS leaves it out
                return
            request["NextToken"] = page["NextToken"]

    def _arn(self, answer: Mapping[str, Any]) -> str:
        """The ARN from an API answer, checked to be in our region's partition."""
        arn = answer["ARN"]
        if not arn.startswith(f"arn:{self.partition}:"):
            raise StoreError(f"the answer came from partition {arn.split(':')[1]!r}, not {self.partition!r} "
                             f"({self.region})", where=self.name, fix="check AWS_ENDPOINT_URL and the profile")
        return arn

    # --- clients and errors -------------------------------------------------------------------

    def _client(self) -> Any:
        return aws.client("secretsmanager", self.region, self.profile)

    @contextmanager
    def _aws(self) -> Iterator[Any]:
        """A fresh client for one public call; any AWS failure becomes one StoreError line."""
        try:
            yield self._client()
        except ClientError as error:
            raise self._explain(error) from None
        except BotoCoreError as error:
            raise self._explain_local(error) from None

    def _explain(self, error: ClientError) -> StoreError:
        """One line for an AWS error: the words every store and target use for its code
        (`aws.explain_answer`), with the code and operation; never the request or AWS's text."""
        code = str(error.response.get("Error", {}).get("Code", "Unknown"))
        detail = f"{code} on {error.operation_name}, {self.region}"
        if code == "ResourceNotFoundException":
            return SecretNotFoundError(f"not found in Secrets Manager ({self.region})", where=self.name,
                                       fix="run `pulumi up` or check the region")
        if code == "InvalidRequestException" and "delet" in str(error.response["Error"].get("Message", "")):
            return self._scheduled_for_deletion()
        if code == "ResourceExistsException":
            return StoreError(f"created by someone else meanwhile ({detail})", where=self.name, fix="run again")
        problem, fix = aws.explain_answer(error)
        if code in KMS_CODES:
            key = self.kms_key_id or "aws/secretsmanager"
            return StoreAccessError(f"{problem} ({detail})", where=f"{self.name} (KMS key {key})", fix=fix)
        error_class = StoreAccessError if aws.classify(error) == "access-denied" else StoreError
        return error_class(f"{problem} ({detail})", where=self.name, fix=fix)

    def _explain_local(self, error: BotoCoreError) -> StoreError:
        """One line for a failure before AWS answered: which kind (aws.classify), where, the fix."""
        kind = aws.classify(error)
        if isinstance(error, ProfileNotFound):
            return StoreAccessError(f"AWS profile {self.profile!r} not found", where=self.name,
                                    fix="add it to ~/.aws/config")
        if kind == "credentials":
            return StoreAccessError(f"no AWS credentials for {self.region}", where=self.name,
                                    fix="set AWS_PROFILE or the profile in the stack file, or log in (`aws sso login`)")
        if kind in ("timeout", "refused", "dns", "unreachable"):
            problem, fix = aws.FAILURES[kind]
            return StoreError(f"cannot reach Secrets Manager in {self.region}: {problem}", where=self.name, fix=fix)
        # Other botocore errors (parameter validation) may quote request values: name the class only.
        return StoreError(f"AWS call failed before reaching Secrets Manager ({type(error).__name__})", where=self.name,
                          fix="check the stack file's secretStore and your AWS setup")

    def _scheduled_for_deletion(self) -> SecretNotFoundError:
        return SecretNotFoundError(
            f"scheduled for deletion in Secrets Manager ({self.region})", where=self.name,
            fix=f"`aws secretsmanager restore-secret --secret-id {self.name} --region {self.region}`")



def _holder(labels: Labels, label: str) -> str | None:
    return next((version for version, held in labels.items() if label in held), None)


def _version(entry: Mapping[str, Any]) -> SecretVersion:
    stages = tuple(STAGES[label] for label in entry.get("VersionStages", []) if label in STAGES)
    return SecretVersion(entry["VersionId"], stages, entry.get("CreatedDate"))
