"""The Pulumi program's body: stack config -> components -> stack outputs.

`__main__.py` only calls `run()`; tests call it too, under `pulumi.runtime.set_mocks`.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi

from components.resources import LlmProvider, LlmProviderArgs, OpenClawConfigDeployment, OpenClawConfigDeploymentArgs
from kimi_infra.assemble import RenderedModel, check_stack, enabled_providers
from kimi_infra.deploy import FROM_CONFIG, preflight
from kimi_infra.errors import KimiInfraError, SpecError, in_file
from kimi_infra.models import StackSpec
from kimi_infra.paths import stack_file
from kimi_infra.secret import Secret
from kimi_infra.stackfile import (
    KEY_CONFIG_NAMES,
    NAMESPACE,
    find_project_dir,
    read_yaml,
    spec_from_config,
    split_namespace,
    stack_path,
)

# How each `kimi-infra:` setting arrives from the engine: structured values as JSON text, the
# boolean as "true"/"false", the rest as plain strings. Every StackSpec field but `stack` is listed
# (a unit test checks), so no value is guessed at from its text.
STRUCTURED_SETTINGS = ("providers", "modelOverrides", "extraModels", "aliases", "baseUrls", "secretStore", "targets",
                       "resolver", "fleet")
BOOLEAN_SETTINGS = ("legacyEnvBlock", "allowCrossRegionBaseUrl")
TEXT_SETTINGS = ("region", "keyMode", "primaryModel")


def read_stack_spec(stack: str, project_dir: Path) -> StackSpec:
    """The stack's `kimi-infra:` config as the engine passes it (public `pulumi.Config`), validated
    like the CLI's. Settings the stack file has but StackSpec does not are refused, as the CLI does."""
    config = pulumi.Config(NAMESPACE)
    readers = {
        **{name: config.get_object for name in STRUCTURED_SETTINGS},
        **{name: config.get_bool for name in BOOLEAN_SETTINGS},
        **{name: config.get for name in TEXT_SETTINGS},
    }
    values = {name: value for name, read in readers.items() if (value := read(name)) is not None}
    with in_file(stack_file(stack)):
        _refuse_unknown_settings(project_dir, stack, set(readers) | KEY_CONFIG_NAMES)
        return spec_from_config(values, stack)


def _refuse_unknown_settings(project_dir: Path, stack: str, known: set[str]) -> None:
    """pulumi.Config can only answer for names it is asked about: list the file's own names."""
    path = stack_path(project_dir, stack)
    if not path.is_file():
        return
    unknown = sorted(set(split_namespace(read_yaml(path))) - known)
    if unknown:
        raise SpecError(f"{NAMESPACE}:{unknown[0]}", "unknown setting",
                        f"remove it or correct the name (known: {', '.join(sorted(known - KEY_CONFIG_NAMES))})")


def checked_stack(stack: str, project_dir: Path) -> tuple[StackSpec, list[RenderedModel]]:
    """The stack's spec and models, after the guards `deploy` applies before it writes (path
    rules, key checks, every target writable: `kimi_infra.deploy.preflight`). Runs before any
    resource is registered, so a refusal leaves every target and key store as it was."""
    spec = read_stack_spec(stack, project_dir)
    with in_file(stack_file(stack)):
        models = check_stack(spec)
    preflight(spec, project_dir, config_keys(spec), FROM_CONFIG)
    return spec, models


def config_keys(spec: StackSpec) -> dict[str, Secret]:
    """The keys set with `pulumi config set --secret kimi-infra:<provider>ApiKey`, in plain text
    (as Secret), for the checks `set-key` makes. `Config.get_secret` only wraps this same value
    (`Output.secret(get_config(key))`): the engine hands the program the decrypted config, and an
    Output cannot be looked at before the resources are registered. Never logged."""
    config = pulumi.Config(NAMESPACE)
    keys = {info.name: config.get(info.config_key) for info in enabled_providers(spec)}
    return {name: Secret(value) for name, value in keys.items() if value}


def leave_quietly_on_interrupt() -> None:
    """Under the engine (`__main__.py`): on SIGINT, leave at once with 130 (128 + SIGINT).

    The language host interrupts the program when the engine ends the run: Ctrl-C, or a provider step
    that failed. The SDK then unwinds through its shutdown and prints a KeyboardInterrupt traceback,
    which the engine shows under the user's one-line error (issue 23: with the provider plugin now
    closing at once, the host's SIGINT reaches a program still shutting down after a failed step). The
    program writes nothing itself (stores and targets are written by the providers, in their own
    process), so leaving at once cuts nothing short."""
    signal.signal(signal.SIGINT, _leave)


def _leave(_signal: int, _frame: object) -> None:
    os._exit(128 + signal.SIGINT)


@dataclass(frozen=True)
class StackResources:
    """What one run of the program built, for tests to inspect."""

    providers: list[LlmProvider]
    deployment: OpenClawConfigDeployment
    exports: dict[str, Any]


def run(project_dir: Path | None = None) -> StackResources:
    """Build the stack's resources and export what operators look up, once every guard `deploy`
    applies has passed: a refusal is one line (`pulumi.RunError`) and registers nothing."""
    stack = pulumi.get_stack()
    project_dir = project_dir or find_project_dir()
    try:
        spec, models = checked_stack(stack, project_dir)
    except KimiInfraError as error:
        raise pulumi.RunError(str(error)) from None
    config = pulumi.Config(NAMESPACE)
    providers = [
        LlmProvider(info.name, LlmProviderArgs(
            spec=spec, provider=info.name, project_dir=project_dir,
            model_refs=[m.ref for m in models if m.provider == info.name],
            api_key=config.get_secret(info.config_key)))
        for info in enabled_providers(spec)
    ]
    deployment = OpenClawConfigDeployment(
        "openclaw-config", OpenClawConfigDeploymentArgs(spec=spec, project_dir=project_dir, providers=providers))
    exports = {
        "secretNames": {p.provider_name: p.key_secret.name for p in providers},
        "secretArns": {p.provider_name: p.key_secret.arn for p in providers},
        "secretVersionIds": {p.provider_name: p.key_secret.versionId for p in providers},
        "modelRefs": [ref for p in providers for ref in p.model_refs],
        "renderHash": deployment.render_hash,
        "targets": {name: t.location for name, t in deployment.targets.items()},
        "contentHashes": {name: t.contentHash for name, t in deployment.targets.items()},
    }
    for name, value in exports.items():
        pulumi.export(name, value)
    return StackResources(providers, deployment, exports)
