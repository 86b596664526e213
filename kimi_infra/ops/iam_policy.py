"""`iam-policy`: the least-privilege IAM policy a stack's gateway or operator needs.

The gateway (through the secretref resolver) may only read each provider's secret of its own
stack at AWSCURRENT, plus `kms:Decrypt` through the stack's KMS key when one is set. The
operator may also rotate them (stage, relabel, list versions). Every ARN comes from an AWS
answer (DescribeSecret, KMS DescribeKey), never built by hand: the partition (aws, aws-cn) and
the random suffix of a secret's ARN are AWS's to say.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from kimi_infra.commands.options import say
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
OPERATOR_KMS_ACTIONS = ["kms:Decrypt", "kms:GenerateDataKey"]


def stack_policy(spec: Any, project_dir: Path, role: Role) -> dict[str, Any]:
    """The policy document for `role` over the stack's secrets (and KMS key)."""
    from kimi_infra.aws import reusing_clients
    from kimi_infra.models import LocalStoreSpec

    if isinstance(spec.secretStore, LocalStoreSpec):
        raise KimiInfraError("keeps its keys in a local file: no IAM policy applies", where=f"stack {spec.stack}",
                             fix="give the stack an aws-secrets-manager secretStore")
    with reusing_clients():
        secret_arns = [_secret_arn(spec, provider, project_dir) for provider in spec.providers]
        if role == "operator":
            secret_arns += _salt_arn(spec, project_dir)
        key_arn = _kms_key_arn(spec.secretStore) if spec.secretStore.kmsKeyId else None
    return policy_document(role, secret_arns, key_arn)


def policy_document(role: Role, secret_arns: list[str], key_arn: str | None) -> dict[str, Any]:
    """The policy for `role` over exactly these ARNs (pure: the tests feed it AWS's answers)."""
    if role == "gateway":
        statements = [{"Sid": "ReadCurrentKeys", "Effect": "Allow", "Action": GATEWAY_ACTIONS,
                       "Resource": secret_arns,
                       "Condition": {"StringEquals": {"secretsmanager:VersionStage": "AWSCURRENT"}}}]
        kms_actions = ["kms:Decrypt"]
    else:
        statements = [{"Sid": "RotateKeys", "Effect": "Allow", "Action": OPERATOR_ACTIONS, "Resource": secret_arns}]
        kms_actions = OPERATOR_KMS_ACTIONS
    if key_arn:
        statements.append({"Sid": "UseTheStackKey", "Effect": "Allow", "Action": kms_actions, "Resource": [key_arn]})
    return {"Version": POLICY_VERSION, "Statement": statements}


def _secret_arn(spec: Any, provider: str, project_dir: Path) -> str:
    from kimi_infra.stores import open_store

    store = open_store(spec, provider, project_dir)
    arn = store.describe().arn
    if arn is None:
        raise KimiInfraError("the store gave no ARN", where=store.name, fix="check the stack's secretStore")
    return arn


def _salt_arn(spec: Any, project_dir: Path) -> list[str]:
    """The stack's token-salt secret (the operator reads it to name rotation versions and to hash
    inline configs), if made yet."""
    from kimi_infra.stores import open_store
    from kimi_infra.stores.aws_secrets_manager import AwsSecretsManagerStore

    store = open_store(spec, spec.providers[0], project_dir)
    if not isinstance(store, AwsSecretsManagerStore):  # only Secrets Manager stores keep a salt secret
        return []
    arn = store.salt_arn()
    if arn is None:
        say(f"note: {store.salt_name} does not exist yet; the first rotation or inline deploy creates "
            "it (that needs secretsmanager:CreateSecret); run iam-policy again after it")
        return []
    return [arn]


def _kms_key_arn(store_spec: Any) -> str:
    from botocore.exceptions import BotoCoreError, ClientError

    from kimi_infra.aws import client, explain

    try:
        answer = client("kms", store_spec.region, store_spec.profile).describe_key(KeyId=store_spec.kmsKeyId)
    except (BotoCoreError, ClientError) as error:  # classified; never their text (it may echo input)
        problem, fix = explain(error)
        raise KimiInfraError(problem, where=f"KMS key {store_spec.kmsKeyId} ({store_spec.region})", fix=fix) from None
    return answer["KeyMetadata"]["Arn"]
