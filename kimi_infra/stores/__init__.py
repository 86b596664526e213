"""Secret stores: where each provider's API key lives, per stack.

`open_store` picks the store a stack file names. The AWS store is imported only when asked for,
so the local (dev) path never loads boto3.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from kimi_infra.errors import KimiInfraError
from kimi_infra.paths import project_path
from kimi_infra.secret_ids import secret_id
from kimi_infra.stores.base import (
    EnsureResult,
    SecretDescription,
    SecretNotFoundError,
    SecretStore,
    SecretVersion,
    Stage,
    StoreAccessError,
    StoreError,
)
from kimi_infra.stores.local_file import LocalFileStore

if TYPE_CHECKING:  # the models need pydantic: the resolver imports this package without it
    from kimi_infra.models import AwsSecretsManagerStoreSpec, LocalStoreSpec, StackSpec
    from kimi_infra.secret import Secret
    from kimi_infra.stores.aws_secrets_manager import AwsSecretsManagerStore

__all__ = [
    "EnsureResult",
    "LocalFileStore",
    "SecretDescription",
    "SecretNotFoundError",
    "SecretStore",
    "SecretVersion",
    "Stage",
    "StoreAccessError",
    "StoreError",
    "open_store",
    "open_store_for",
    "partition_for_region",
    "store_tags",
]


def partition_for_region(region: str) -> str:
    """The AWS partition of a region: `aws-cn` for cn-*, `aws-us-gov` for us-gov-*, else `aws`.

    Partitions are separate accounts, credentials and KMS keys; nothing crosses between them.
    """
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def store_tags(stack: str, provider: str) -> dict[str, str]:
    """The tags every AWS secret we create carries."""
    return {"stack": stack, "provider": provider, "managed-by": "kimi-infra"}


def open_store(spec: StackSpec, provider: str, project_dir: Path) -> SecretStore:
    """The store holding `provider`'s key for the stack `spec` describes."""
    return open_store_for(spec.secretStore, spec.stack, provider, project_dir)


def open_store_for(store_spec: LocalStoreSpec | AwsSecretsManagerStoreSpec, stack: str, provider: str,
                   project_dir: Path) -> SecretStore:
    """The store for `provider`'s key of `stack`, from the stack's `secretStore` settings alone."""
    from kimi_infra.models import LocalStoreSpec

    name = secret_id(stack, provider)
    if isinstance(store_spec, LocalStoreSpec):
        return LocalFileStore(_local_path(store_spec, stack, project_dir), name)
    return _aws_store(store_spec, name, store_tags(stack, provider))


def _local_path(store_spec: LocalStoreSpec, stack: str, project_dir: Path) -> Path:
    from kimi_infra.models import local_store_default_path

    return project_path(project_dir, store_spec.path or local_store_default_path(stack))


def _aws_store(store_spec: AwsSecretsManagerStoreSpec, name: str, tags: dict[str, str]) -> AwsSecretsManagerStore:
    from kimi_infra.stores.aws_secrets_manager import AwsSecretsManagerStore  # boto3 only when needed

    return AwsSecretsManagerStore(name, store_spec.region, kms_key_id=store_spec.kmsKeyId,
                                  profile=store_spec.profile, tags=tags)


def refuse_other_providers_key(spec: StackSpec, project_dir: Path, provider: str, key: Secret) -> None:
    """Moonshot and Kimi Code keys are not interchangeable: the other provider's key is refused."""
    for other in spec.providers:
        if other == provider:
            continue
        store = open_store(spec, other, project_dir)
        if store.exists() and store.get("current") == key:
            raise KimiInfraError(f"the key is {other}'s key in this stack", where=f"{spec.stack}/{provider}",
                                 fix=f"give the {provider} key (Moonshot and Kimi Code keys are not interchangeable)")
