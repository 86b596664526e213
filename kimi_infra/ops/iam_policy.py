"""`iam-policy`: the least-privilege IAM policy a stack's gateway or operator needs.

The gateway (through the secretref resolver) may only read each provider's secret of its own
stack at AWSCURRENT, plus `kms:Decrypt` through the stack's KMS key when one is set. The
operator may also rotate them (stage, relabel, list versions), create the ones not made yet, and
read, write, list and remove the stack's S3 and SSM targets, through their KMS keys: every
operator command (deploy, --prune, set-key, rotate, rollback, history, --redeploy, status,
doctor) runs under it (tests/ops/test_iam_enforced.py, moto enforcing IAM).

Every ARN comes from an AWS answer where AWS gives one (DescribeSecret, GetParameter, KMS
DescribeKey), never built by hand: the partition (aws, aws-cn) and the random suffix of a
secret's ARN are AWS's to say. Where no answer can give it, the comment at the place says why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from kimi_infra.errors import KimiInfraError

Role = Literal["gateway", "operator"]
POLICY_VERSION = "2012-10-17"
GATEWAY_ACTIONS = ["secretsmanager:GetSecretValue"]
OPERATOR_ACTIONS = [
    "secretsmanager:DescribeSecret",
    "secretsmanager:GetSecretValue",
    "secretsmanager:ListSecretVersionIds",
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecretVersionStage",
]
# set-key, and the first rotation or inline deploy (the token salt), create a secret; tags on a
# new secret need TagResource too.
CREATE_ACTIONS = ["secretsmanager:CreateSecret", "secretsmanager:TagResource"]
OPERATOR_KMS_ACTIONS = ["kms:Decrypt", "kms:GenerateDataKey"]
# GetObject also covers HeadObject; GetObjectVersion reads a version back (history --redeploy);
# DeleteObject is `deploy --prune`.
S3_OBJECT_ACTIONS = ["s3:DeleteObject", "s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"]
# ListBucket makes a GetObject of a missing key answer 404, not 403 (the first deploy reads the
# object first); ListBucketVersions is `history`; GetBucketVersioning is `doctor`.
S3_BUCKET_ACTIONS = ["s3:GetBucketVersioning", "s3:ListBucket", "s3:ListBucketVersions"]
SSM_PARAMETER_ACTIONS = ["ssm:DeleteParameter", "ssm:GetParameter", "ssm:GetParameterHistory", "ssm:GetParameters",
                         "ssm:PutParameter"]  # GetParameters: `fleet` reads reports 10 at a time
# A write that keeps an Advanced parameter Advanced reads its tier; AWS offers DescribeParameters
# on no resource narrower than `*`.
SSM_ACCOUNT_ACTIONS = ["ssm:DescribeParameters"]
# S3 asks KMS for a data key to write SSE-KMS and to decrypt on read; SSM encrypts a Standard
# SecureString with Encrypt (an Advanced one with a data key) and decrypts on read.
S3_KMS_ACTIONS = ["kms:Decrypt", "kms:GenerateDataKey"]
SSM_KMS_ACTIONS = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
# A secret not made yet has no ARN: AWS appends six random characters at creation.
SECRET_SUFFIX = "-??????"


@dataclass
class Resources:
    """What one role's policy names, gathered from AWS's answers."""

    secrets: list[str] = field(default_factory=list)  # ARNs, or `<arn prefix><name>-??????` if not made yet
    missing_secrets: list[str] = field(default_factory=list)  # the patterns among `secrets`
    store_key: str | None = None
    objects: list[str] = field(default_factory=list)
    buckets: list[str] = field(default_factory=list)
    parameters: list[str] = field(default_factory=list)
    target_keys: dict[str, list[str]] = field(default_factory=dict)  # key ARN -> KMS actions


def stack_policy(spec: Any, project_dir: Path, role: Role, say: Callable[[str], None]) -> dict[str, Any]:
    """The policy document for `role` over the stack's secrets and KMS keys (and for the operator
    its S3 and SSM targets), every ARN asked of AWS; `say` gets the note on secrets named by pattern
    (the command's stderr: ops sits below the click layer)."""
    from kimi_infra.aws import reusing_clients
    from kimi_infra.models import LocalStoreSpec

    if isinstance(spec.secretStore, LocalStoreSpec):
        raise KimiInfraError("keeps its keys in a local file: no IAM policy applies", where=f"stack {spec.stack}",
                             fix="give the stack an aws-secrets-manager secretStore")
    with reusing_clients():
        resources = Resources()
        resources.secrets, resources.missing_secrets = _secret_resources(spec, project_dir, role, say)
        store = spec.secretStore
        resources.store_key = _kms_key_arn(store.kmsKeyId, store.region, store.profile) if store.kmsKeyId else None
        if role == "operator":
            _add_targets(spec, resources)
    return policy_document(role, resources)


def policy_document(role: Role, resources: Resources) -> dict[str, Any]:
    """The policy for `role` over exactly these resources (pure: the tests feed it AWS's answers)."""
    if role == "gateway":
        statements = [{"Sid": "ReadCurrentKeys", "Effect": "Allow", "Action": GATEWAY_ACTIONS,
                       "Resource": resources.secrets,
                       "Condition": {"StringEquals": {"secretsmanager:VersionStage": "AWSCURRENT"}}}]
        kms_actions = ["kms:Decrypt"]
    else:
        statements = [{"Sid": "RotateKeys", "Effect": "Allow", "Action": OPERATOR_ACTIONS,
                       "Resource": resources.secrets}]
        if resources.missing_secrets:
            statements.append({"Sid": "CreateMissingSecrets", "Effect": "Allow", "Action": CREATE_ACTIONS,
                               "Resource": resources.missing_secrets})
        kms_actions = OPERATOR_KMS_ACTIONS
    if resources.store_key:
        statements.append({"Sid": "UseTheStackKey", "Effect": "Allow", "Action": kms_actions,
                           "Resource": [resources.store_key]})
    return {"Version": POLICY_VERSION, "Statement": statements + _target_statements(resources)}


def _target_statements(resources: Resources) -> list[dict[str, Any]]:
    """The operator's statements for the stack's S3 and SSM targets and their KMS keys."""
    statements = []
    if resources.objects:
        statements += [{"Sid": "WriteConfigObjects", "Effect": "Allow", "Action": S3_OBJECT_ACTIONS,
                        "Resource": resources.objects},
                       {"Sid": "ListConfigObjectVersions", "Effect": "Allow", "Action": S3_BUCKET_ACTIONS,
                        "Resource": resources.buckets}]
    if resources.parameters:
        statements += [{"Sid": "WriteConfigParameters", "Effect": "Allow", "Action": SSM_PARAMETER_ACTIONS,
                        "Resource": resources.parameters},
                       {"Sid": "ReadParameterTiers", "Effect": "Allow", "Action": SSM_ACCOUNT_ACTIONS,
                        "Resource": "*"}]
    for index, (key, actions) in enumerate(sorted(resources.target_keys.items())):
        statements.append({"Sid": f"UseTargetKey{index}", "Effect": "Allow", "Action": actions, "Resource": [key]})
    return statements


def _secret_resources(spec: Any, project_dir: Path, role: Role,
                      say: Callable[[str], None]) -> tuple[list[str], list[str]]:
    """Each provider's secret (and for the operator the token salt): its ARN from DescribeSecret,
    or the pattern a secret of that name will match once made, and those patterns apart."""
    from kimi_infra.stores import open_store
    from kimi_infra.stores.aws_secrets_manager import AwsSecretsManagerStore

    stores = [open_store(spec, provider, project_dir) for provider in spec.providers]
    found = {store.name: _made_secret_arn(store) for store in stores}
    salt_keeper = stores[0]
    # The operator reads the token salt to name rotation versions and to hash inline configs.
    if role == "operator" and isinstance(salt_keeper, AwsSecretsManagerStore):
        found[salt_keeper.salt_name] = salt_keeper.salt_arn()
    missing = [name for name, arn in found.items() if arn is None]
    if not missing:
        return [arn for arn in found.values() if arn], []
    say(f"note: {', '.join(missing)} not made yet: named by pattern; run iam-policy again after "
        "set-key and the first deploy or rotation to name their exact ARNs")
    prefix = _secret_arn_prefix([arn for arn in found.values() if arn], spec.secretStore)
    patterns = [f"{prefix}{name}{SECRET_SUFFIX}" for name in missing]
    return [arn or f"{prefix}{name}{SECRET_SUFFIX}" for name, arn in found.items()], patterns


def _made_secret_arn(store: Any) -> str | None:
    from kimi_infra.stores import SecretNotFoundError

    try:
        return store.describe().arn
    except SecretNotFoundError:
        return None


def _secret_arn_prefix(known: list[str], store: Any) -> str:
    """`arn:<partition>:secretsmanager:<region>:<account>:secret:` from a secret AWS named, else
    (no secret of the stack exists yet, so no answer names one) from the caller's identity."""
    if known:
        return known[0].split(":secret:", 1)[0] + ":secret:"
    partition, account = _caller(store.region, store.profile)
    return f"arn:{partition}:secretsmanager:{store.region}:{account}:secret:"


def _add_targets(spec: Any, resources: Resources) -> None:
    """The stack's S3 objects and buckets, SSM parameters and their customer managed KMS keys
    (a target without kmsKeyId uses the AWS managed aws/s3 or aws/ssm key, which needs no IAM
    permission of ours). File targets need none."""
    from kimi_infra.models import S3TargetSpec, SsmTargetSpec
    from kimi_infra.stores import partition_for_region

    for target in spec.targets:
        if isinstance(target, S3TargetSpec):
            # S3 names a general-purpose bucket's ARN in no answer (HeadBucket's BucketArn is for
            # directory buckets only), and an S3 ARN holds no region or account: the partition,
            # bucket and key are all there is to it.
            bucket = f"arn:{partition_for_region(target.region)}:s3:::{target.bucket}"
            resources.objects.append(f"{bucket}/{target.key}")
            if spec.fleet is not None:  # the fleet facts deploy/rotate publish, the reports `fleet` reads
                resources.objects += [f"{bucket}/{target.key}.fleet.json", f"{bucket}/{target.key}.fleet/*"]
            _add_once(resources.buckets, bucket)
            kms_actions = S3_KMS_ACTIONS
        elif isinstance(target, SsmTargetSpec):
            resources.parameters.append(_parameter_arn(target))
            if spec.fleet is not None:
                arn = resources.parameters[-1]
                resources.parameters += [f"{arn}.fleet", f"{arn}.fleet-reports/*"]
            kms_actions = SSM_KMS_ACTIONS
        else:
            continue
        if target.kmsKeyId:
            key = _kms_key_arn(target.kmsKeyId, target.region, None)
            actions = resources.target_keys.setdefault(key, [])
            actions[:] = sorted(set(actions) | set(kms_actions))


def _add_once(found: list[str], value: str) -> None:
    if value not in found:
        found.append(value)


def _parameter_arn(target: Any) -> str:
    """The parameter's ARN as GetParameter gives it; before the first deploy made it, no answer
    names it, so it is put together from the caller's partition and account (STS)."""
    from kimi_infra.aws import client

    ssm = client("ssm", target.region)

    def arn_if_made() -> str | None:
        try:
            return ssm.get_parameter(Name=target.parameter)["Parameter"]["ARN"]
        except ssm.exceptions.ParameterNotFound:
            return None

    arn = _asking(f"SSM parameter {target.parameter}", target.region, arn_if_made)
    if arn:
        return arn
    partition, account = _caller(target.region, None)
    return f"arn:{partition}:ssm:{target.region}:{account}:parameter{target.parameter}"


def _caller(region: str, profile: str | None) -> tuple[str, str]:
    """The partition and account of the credentials in use, from STS GetCallerIdentity."""
    from kimi_infra.aws import client

    answer = _asking("the caller identity (sts)", region,
                     lambda: client("sts", region, profile).get_caller_identity())
    return answer["Arn"].split(":")[1], answer["Account"]


def _asking(what: str, region: str, call: Callable[[], Any]) -> Any:
    """`call`'s answer; a failure is one line naming `what` (classified, never AWS's text: it
    may echo input)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from kimi_infra.aws import explain

    try:
        return call()
    except (BotoCoreError, ClientError) as error:
        problem, fix = explain(error)
        raise KimiInfraError(problem, where=f"{what} ({region})", fix=fix) from None


def _kms_key_arn(key_id: str, region: str, profile: str | None) -> str:
    """The key's ARN as KMS DescribeKey gives it (the id may be an alias or a bare key id)."""
    from kimi_infra.aws import client

    return _asking(f"KMS key {key_id}", region,
                   lambda: client("kms", region, profile).describe_key(KeyId=key_id)["KeyMetadata"]["Arn"])
