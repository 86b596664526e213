"""moto with IAM enforced: users with a given policy, the CLI run in this process as one of them
(every AWS call recorded with its answer), and the IAM actions each recorded call needs.

moto checks an identity's policy on every call once enforcement is on (`/moto-api/reset-auth`),
but for services other than S3 only against resource `*`, and it evaluates no Condition and none
of the KMS calls S3, SSM and Secrets Manager make on the caller's behalf. So `enforced_policy`
keeps S3 statements as printed (moto matches bucket and object ARNs) and sets the others to `*`,
and `kms_needs` lists the KMS actions AWS would check, for the test to find in the printed policy.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.aws_calls import ApiCall, install_call_counter
from tests.support.moto import MotoServer, aws_test_env

# moto checks HeadBucket as action `s3:HeadBucket`, which AWS does not have (it checks ListBucket).
MOTO_S3_ALIASES = {"s3:ListBucket": "s3:HeadBucket"}
# S3 operations whose IAM action has another name (the rest are `s3:<Operation>`).
S3_ACTIONS = {"HeadObject": "s3:GetObject", "HeadBucket": "s3:ListBucket",
              "ListObjectVersions": "s3:ListBucketVersions", "ListObjectsV2": "s3:ListBucket",
              "ListObjects": "s3:ListBucket"}


def set_enforcement(server: MotoServer, free_calls: str) -> None:
    """moto checks IAM on every call after the next `free_calls` ("0": from now on, "inf": never)."""
    request = urllib.request.Request(f"{server.endpoint}/moto-api/reset-auth", data=free_calls.encode(),
                                     headers={"Content-Type": "text/plain"},  # a form body reads as empty
                                     method="POST")
    urllib.request.urlopen(request, timeout=10).close()


@dataclass(frozen=True)
class IamWorld:
    """A clean moto that enforces IAM, with an `admin` (Allow *) for set-up and checks."""

    server: MotoServer
    admin: dict[str, str]

    def client(self, service: str, env: dict[str, str] | None = None, region: str = "us-east-1") -> Any:
        import boto3

        env = env or self.admin
        return boto3.client(service, region_name=region, endpoint_url=self.server.endpoint,
                            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])

    def user(self, name: str, policy: dict[str, Any]) -> dict[str, str]:
        """A user holding exactly `policy`; returns the environment that runs as that user."""
        return _user(self.client("iam"), self.server.endpoint, name, policy)


def iam_world(server: MotoServer) -> IamWorld:
    """Wipe `server`, make the admin while calls are free, then enforce IAM on every call."""
    set_enforcement(server, "inf")
    server.reset()
    setup = aws_test_env(server.endpoint)
    iam = IamWorld(server, setup).client("iam")
    admin = _user(iam, server.endpoint, "admin", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*"}]})
    set_enforcement(server, "0")
    _assert_enforced(IamWorld(server, setup))
    return IamWorld(server, admin)


def _assert_enforced(unknown: IamWorld) -> None:
    """A caller with no IAM user is refused now: the policies below are really being checked."""
    from botocore.exceptions import ClientError

    try:
        unknown.client("secretsmanager").list_secrets()
    except ClientError as error:
        assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 403, error.response
        return
    raise AssertionError("moto does not enforce IAM")


def _user(iam: Any, endpoint: str, name: str, policy: dict[str, Any]) -> dict[str, str]:
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="kimi-infra", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {**aws_test_env(endpoint), "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}


def enforced_policy(policy: dict[str, Any]) -> dict[str, Any]:
    """The printed policy as moto can enforce it: S3 statements as printed (moto matches their
    ARNs; plus moto's name for an action AWS calls otherwise), every other statement on resource
    `*` (moto matches nothing else there)."""
    def enforceable(statement: dict[str, Any]) -> dict[str, Any]:
        if all(action.startswith("s3:") for action in statement["Action"]):
            aliases = [MOTO_S3_ALIASES[a] for a in statement["Action"] if a in MOTO_S3_ALIASES]
            return {**statement, "Action": statement["Action"] + aliases}
        return {**statement, "Resource": "*"}

    return {**policy, "Statement": [enforceable(statement) for statement in policy["Statement"]]}


@dataclass(frozen=True)
class Ran:
    """A CLI run in this process: its exit code, output and the AWS calls it made."""

    exit_code: int
    output: str  # stdout and stderr as a terminal shows them
    stdout: str
    calls: list[ApiCall]

    def denied(self) -> list[str]:
        return [f"{c.service}:{c.operation}" for c in self.calls if c.status == 403]


@contextmanager
def recording() -> Iterator[list[ApiCall]]:
    counter, uninstall = install_call_counter()
    try:
        yield counter.answered
    finally:
        uninstall()


def run_here(project: Path, env: dict[str, str], *args: str, stdin: str | None = None) -> Ran:
    """`kimi-infra --project-dir project ARGS` in this process as the user of `env`."""
    from click.testing import CliRunner

    from kimi_infra.cli import cli

    with recording() as calls:
        result = CliRunner().invoke(cli, ["--project-dir", str(project), *args], input=stdin,
                                    env={**env, "AWS_PROFILE": None, "AWS_SESSION_TOKEN": None})
    return Ran(result.exit_code, result.output, result.stdout, list(calls))


def iam_actions(call: ApiCall) -> list[str]:
    """The IAM actions AWS checks for this call against the caller's own policy."""
    if (call.service, call.operation) == ("sts", "GetCallerIdentity"):
        return []  # AWS answers it for every identity: no permission is needed (none can deny it)
    if call.service == "s3":
        versioned = "VersionId" in call.params
        if call.operation in ("GetObject", "HeadObject") and versioned:
            return ["s3:GetObjectVersion"]
        if call.operation in ("GetObject", "HeadObject") and call.status == 404:
            # AWS answers "no such key" only to a caller that may list the bucket; to others 403 (moto: 404).
            return ["s3:GetObject", "s3:ListBucket"]
        return [S3_ACTIONS.get(call.operation, f"s3:{call.operation}")]
    action = f"{call.service}:{call.operation}"
    if call.operation == "CreateSecret" and call.params.get("Tags"):
        return [action, "secretsmanager:TagResource"]  # tags on create need TagResource too
    return [action]


def kms_needs(call: ApiCall, keys: dict[str, str]) -> list[tuple[str, str]]:
    """(KMS action, key ARN) pairs AWS checks when the service uses a customer managed key for
    this call (moto makes none of these checks). `keys` maps a service to the ARN of the stack's
    key it uses; calls through an AWS managed key (aws/s3, aws/ssm) need no KMS permission of ours."""
    key = _customer_key(call, keys)
    if key is None:
        return []
    actions = {
        ("s3", "PutObject"): ["kms:GenerateDataKey"],
        ("s3", "GetObject"): ["kms:Decrypt"],
        ("ssm", "PutParameter"): ["kms:Encrypt"] if call.params.get("Tier") != "Advanced" else ["kms:GenerateDataKey"],
        ("ssm", "GetParameter"): ["kms:Decrypt"],
        ("ssm", "GetParameterHistory"): ["kms:Decrypt"],
        ("secretsmanager", "GetSecretValue"): ["kms:Decrypt"],
        ("secretsmanager", "PutSecretValue"): ["kms:GenerateDataKey", "kms:Decrypt"],
        ("secretsmanager", "CreateSecret"): ["kms:GenerateDataKey", "kms:Decrypt"],
    }.get((call.service, call.operation), [])
    return [(action, key) for action in actions]


def _customer_key(call: ApiCall, keys: dict[str, str]) -> str | None:
    """The stack's key if the service encrypts or decrypts with it for this call."""
    key = keys.get(call.service)
    if call.service == "s3":
        return key if call.params.get("SSEKMSKeyId") or call.answer.get("SSEKMSKeyId") else None
    if call.service == "ssm":
        return key if call.params.get("Type") == "SecureString" or call.params.get("WithDecryption") else None
    return key


def allows(policy: dict[str, Any], action: str, resource: str | None = None) -> bool:
    """Whether an Allow statement of `policy` names `action` (and `resource`, when given, exactly
    or by an ARN pattern): the test's own reading of the printed JSON, next to moto's."""
    from fnmatch import fnmatchcase

    for statement in policy["Statement"]:
        if statement["Effect"] != "Allow" or action not in statement["Action"]:
            continue
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if resource is None or any(fnmatchcase(resource, pattern.replace("?", "[!/]")) for pattern in resources):
            return True
    return False
