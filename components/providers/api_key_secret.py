"""`ApiKeySecret`: one provider's API key in the stack's secret store, as a Pulumi dynamic resource.

The provider object holds no data (Pulumi pickles it into the state): everything it needs
arrives in `props`, and each method opens the store, so no boto3 client is ever pickled.

The store, not the state, is the truth about the key: `rotate` changes it between `up`s. So
`read` (`pulumi refresh`) and `diff` (every preview and `up`) look at the store's current
version, and the stack's inline targets follow that version through the `versionId` output.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    UpdateResult,
)

from components.providers import LEGACY_INPUTS, running_project_dir, validated, without_legacy
from components.providers.prompt_exit import TrackedProvider
from kimi_infra.errors import KimiInfraError
from kimi_infra.secret import Secret

# Inputs that name where the secret lives: a change means a new secret (replace). No path of the
# checkout is among them: the same stack run from another checkout is the same secret.
LOCATION_INPUTS = ("stack", "provider", "secretStore")


def open_key_store(props: dict[str, Any]):
    """The store named by the resource's inputs (the same rules as the CLI's); a local store's
    relative path is under the project the engine runs now, not one a state recorded."""
    from kimi_infra.models import SecretStoreSpec
    from kimi_infra.stores import open_store_for

    store_spec = validated(SecretStoreSpec, props["secretStore"])
    return open_store_for(store_spec, props["stack"], props["provider"], running_project_dir())


class ApiKeySecretProvider(TrackedProvider):
    """Creates the key's secret once from the stack's config; never reverts a rotation.

    Rotation (`kimi-infra rotate`) changes the store, not the Pulumi config, so the config's key
    is written only when it changes (a new `pulumi config set --secret`), or when the secret is
    missing from the store altogether (a second checkout of a local-store stack, a deleted secret).
    """

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        """The config's key has the shape `set-key` requires (no inner newline, CR, padding...),
        checked again here, where it is written: a failure is one line and nothing is stored."""
        problem = _key_problem(news)
        return CheckResult(news, [CheckFailure("apiKey", problem)] if problem else [])

    def create(self, props: dict[str, Any]) -> CreateResult:
        """Adopt the secret if it exists, else create it from `apiKey`.

        Idempotent: a retried create finds the secret and writes nothing. On failure nothing
        was created (the store writes one version or none).
        """
        store = open_key_store(props)
        _create_if_missing(store, props)
        return CreateResult(id_=store.name, outs={**props, **_describe(store)})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """The secret as the store has it now; gone from the store means gone (`up` re-creates it)."""
        live = _live(props)
        return ReadResult(id_=id_, outs={**without_legacy(props), **live}) if live else ReadResult(id_="", outs={})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        """A changed store location replaces; a changed config key, or a store whose current
        version is no longer the one in the state (rotated, rolled back, deleted), updates. A state
        an older kimi-infra wrote (with the checkout's path) updates in place: no store write."""
        replaces = [name for name in LOCATION_INPUTS if olds.get(name) != news.get(name)]
        changes = replaces + (["apiKey"] if olds.get("apiKey") != news.get("apiKey") else [])
        changes += [name for name in LEGACY_INPUTS if name in olds]
        if not changes and _knows_location(news) and (_live(news) or {}).get("versionId") != olds.get("versionId"):
            changes = ["versionId"]
        return DiffResult(changes=bool(changes), replaces=replaces, stables=["name", "arn"],
                          delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """Write the config's key only if it is new or the secret is gone; else just report the
        store's current version (a rotation stays)."""
        store = open_key_store(news)
        if not _create_if_missing(store, news) and news.get("apiKey") and news["apiKey"] != olds.get("apiKey"):
            _refuse_bad_key(news)
            store.ensure(Secret(news["apiKey"]))
        return UpdateResult(outs={**news, **_describe(store)})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        """Delete the secret (AWS keeps it for its recovery window). A missing secret is fine.

        The component sets `retain_on_delete`, so `pulumi destroy` never calls this: keys outlive
        the stack, and the next `up` adopts them.
        """
        open_key_store(props).delete()


def _key_problem(props: dict[str, Any]) -> str | None:
    """Why the config's key (`apiKey`) cannot be stored, or None (no key, or not known yet)."""
    from pulumi.runtime.rpc import UNKNOWN, unwrap_rpc_secret

    from kimi_infra.key_rules import check_key_text

    key = unwrap_rpc_secret(props.get("apiKey"))
    if not isinstance(key, str) or not key or key == UNKNOWN:
        return None
    try:
        check_key_text(str(props.get("provider")), Secret(key))
    except KimiInfraError as error:
        return f"kimi-infra:{props.get('configKey')}: {error}"
    return None


def _knows_location(props: dict[str, Any]) -> bool:
    """False during a preview where the store's settings are not known yet."""
    from pulumi.runtime.rpc import UNKNOWN

    return all(props.get(name) not in (None, UNKNOWN) for name in LOCATION_INPUTS)


def _live(props: dict[str, Any]) -> dict[str, Any] | None:
    """The secret's name, ARN and current version as the store has them now; None if it is gone.
    One read of the store (`describe_if_exists`): diff runs on every preview and `up`."""
    description = open_key_store(props).describe_if_exists()
    return None if description is None else _outputs(description)


def _create_if_missing(store, props: dict[str, Any]) -> bool:
    """Create the secret from the config's key unless the store has it; True if it was created."""
    if store.exists():
        return False
    if not props.get("apiKey"):
        config_key = props["configKey"]
        raise KimiInfraError("no secret in the store and no key in the stack config", where=store.name,
                             fix=f"pulumi config set --secret kimi-infra:{config_key} (reads the key from stdin)")
    _refuse_bad_key(props)
    store.ensure(Secret(props["apiKey"]))
    return True


def _refuse_bad_key(props: dict[str, Any]) -> None:
    """`check` already failed such a key; this guards the write itself (a caller that skipped it)."""
    problem = _key_problem(props)
    if problem:
        raise KimiInfraError(problem)


def _describe(store) -> dict[str, Any]:
    return _outputs(store.describe())


def _outputs(description) -> dict[str, Any]:
    """The resource's outputs from the store's description of the secret."""
    current = description.version_in("current")
    return {"name": description.name, "arn": description.arn, "versionId": current.version_id if current else None}


class ApiKeySecret(pulumi.dynamic.Resource, module="kimi-infra", name="ApiKeySecret"):
    """A provider's key in the stack's secret store. Outputs name, ARN and current version id."""

    name: pulumi.Output[str]
    arn: pulumi.Output[str | None]
    versionId: pulumi.Output[str | None]  # the wire name, as in the store

    def __init__(self, resource_name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None):
        super().__init__(ApiKeySecretProvider(), resource_name,
                         {**props, "name": None, "arn": None, "versionId": None}, opts)
