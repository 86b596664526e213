"""Component resources: what a stack is made of, in Pulumi terms.

- `LlmProvider` (`kimi-infra:index:LlmProvider`): one model provider's key secret, its env var
  name and its model refs.
- `OpenClawConfigDeployment` (`kimi-infra:index:OpenClawConfigDeployment`): the config rendered
  once and one `ConfigTarget` per deployment target.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pulumi

from components.providers import portable_location
from components.providers.api_key_secret import ApiKeySecret
from components.providers.config_target import ConfigTarget
from kimi_infra.catalog import provider as catalog_provider
from kimi_infra.deploy import render_for_deploy
from kimi_infra.models import StackSpec


@dataclass(frozen=True)
class LlmProviderArgs:
    """`provider`'s key for the stack `spec`; `api_key` from `pulumi config set --secret` (may be None);
    `model_refs`: the refs this stack renders for the provider."""

    spec: StackSpec
    provider: str
    project_dir: Path
    model_refs: list[str]
    api_key: pulumi.Input[str] | None = None


class LlmProvider(pulumi.ComponentResource):
    """One model provider of a stack: its key in the secret store and the models it serves."""

    key_secret: ApiKeySecret
    provider_name: str
    env_var: str
    model_refs: list[str]
    api_key: pulumi.Output[str] | None

    def __init__(self, name: str, args: LlmProviderArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kimi-infra:index:LlmProvider", name, None, opts)
        info = catalog_provider(args.provider)
        self.provider_name = info.name
        self.env_var = info.env_var
        self.model_refs = list(args.model_refs)
        self.api_key = pulumi.Output.secret(args.api_key) if args.api_key is not None else None
        self.key_secret = ApiKeySecret(
            f"{name}-key",
            {
                "stack": args.spec.stack,
                "provider": args.provider,
                "configKey": info.config_key,
                "secretStore": args.spec.secretStore.model_dump(exclude_none=True),
                "apiKey": self.api_key,
            },
            # retain_on_delete: `pulumi destroy` must not lose a key (a rotated one exists nowhere
            # else); the secret stays in the store and the next `up` adopts it.
            pulumi.ResourceOptions(parent=self, additional_secret_outputs=["apiKey"], retain_on_delete=True),
        )
        self.register_outputs({
            "secretName": self.key_secret.name,
            "secretArn": self.key_secret.arn,
            "versionId": self.key_secret.versionId,
            "envVar": self.env_var,
            "modelRefs": self.model_refs,
        })


@dataclass(frozen=True)
class OpenClawConfigDeploymentArgs:
    """The stack to render and the providers whose keys it needs (inline mode reads them)."""

    spec: StackSpec
    project_dir: Path
    providers: Sequence[LlmProvider] = field(default_factory=tuple)


class OpenClawConfigDeployment(pulumi.ComponentResource):
    """The stack's OpenClaw config, rendered once and written to every target."""

    render_hash: str
    targets: Mapping[str, ConfigTarget]

    def __init__(self, name: str, args: OpenClawConfigDeploymentArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kimi-infra:index:OpenClawConfigDeployment", name, None, opts)
        spec = args.spec
        # Rendered once, keys masked: the hash says when the bytes change, without holding a key.
        self.render_hash = render_for_deploy(spec, args.project_dir, masked=True).content_hash
        key_versions = ({p.env_var: p.key_secret.versionId for p in args.providers}
                        if spec.files_hold_keys else {})
        from kimi_infra.content_hash import PLAIN
        from kimi_infra.targets import open_stack_target

        self.targets = {
            target.name: ConfigTarget(
                f"{name}-{target.name}",
                {
                    # JSON text, because the engine's wire format turns every int into a float.
                    "spec": spec.model_dump_json(exclude_none=True),
                    "target": target.model_dump(exclude_none=True),
                    # Relative to the project for a file target: the state is shared by checkouts.
                    "location": portable_location(open_stack_target(spec, target, args.project_dir, PLAIN).location,
                                                  args.project_dir),
                    "renderHash": self.render_hash,
                    "keyVersions": key_versions,
                },
                # Keys first: a config that points at a missing secret would break the gateway.
                pulumi.ResourceOptions(parent=self, depends_on=[p.key_secret for p in args.providers]),
            )
            for target in spec.targets
        }
        self.register_outputs({
            "renderHash": self.render_hash,
            "locations": {n: t.location for n, t in self.targets.items()},
            "contentHashes": {n: t.contentHash for n, t in self.targets.items()},
        })
