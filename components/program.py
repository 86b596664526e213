"""The Pulumi program's body: stack config -> components -> stack outputs.

`__main__.py` only calls `run()`; tests call it too, under `pulumi.runtime.set_mocks`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi

from components.resources import LlmProvider, LlmProviderArgs, OpenClawConfigDeployment, OpenClawConfigDeploymentArgs
from kimi_infra.assemble import check_stack, enabled_providers
from kimi_infra.errors import in_file
from kimi_infra.models import StackSpec
from kimi_infra.paths import stack_file
from kimi_infra.stackfile import KEY_CONFIG_NAMES, NAMESPACE, find_project_dir, spec_from_config


def read_stack_spec(stack: str) -> StackSpec:
    """The stack's `kimi-infra:` config as the engine passes it, validated like the CLI's.

    The engine hands structured values over as JSON strings; unknown keys are refused here too.
    """
    from pulumi.runtime.config import CONFIG, get_config_env

    prefix = NAMESPACE + ":"
    raw = {**get_config_env(), **CONFIG.get()}
    values = {key[len(prefix):]: _decode(value) for key, value in raw.items()
              if key.startswith(prefix) and key[len(prefix):] not in KEY_CONFIG_NAMES}
    with in_file(stack_file(stack)):
        return spec_from_config(values, stack)


def _decode(value: Any) -> Any:
    if not isinstance(value, str) or (value[:1] not in ("{", "[") and value not in ("true", "false")):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


@dataclass(frozen=True)
class StackResources:
    """What one run of the program built, for tests to inspect."""

    providers: list[LlmProvider]
    deployment: OpenClawConfigDeployment
    exports: dict[str, Any]


def run(project_dir: Path | None = None) -> StackResources:
    """Build the stack's resources and export what operators look up."""
    stack = pulumi.get_stack()
    spec = read_stack_spec(stack)
    project_dir = project_dir or find_project_dir()
    config = pulumi.Config(NAMESPACE)
    with in_file(stack_file(stack)):
        models = check_stack(spec)
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
