"""`ConfigTarget`: the rendered OpenClaw config at one deployment target, as a dynamic resource.

Inputs are what decides the bytes: the hash of the config rendered with keys masked, the key
version ids (inline mode only, since only there do the bytes hold a key), and the target's
location. Inline keys are read from the store inside create/update, so no key is ever an input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider, UpdateResult

from kimi_infra.deploy import render_for_deploy
from kimi_infra.models import StackSpec


def open_deploy_target(props: dict[str, Any], spec: StackSpec):
    """The target named by the resource's own `target` input (not looked up in the spec, which
    no longer lists a target that is being deleted)."""
    from pydantic import TypeAdapter

    from kimi_infra.models import TargetSpec
    from kimi_infra.targets import open_stack_target

    target_spec = TypeAdapter(TargetSpec).validate_python(props["target"])
    return open_stack_target(spec, target_spec, Path(props["projectDir"]))


class ConfigTargetProvider(ResourceProvider):
    """Writes the rendered config to one target; writes nothing when the bytes are already there."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        """Render and write. Idempotent: a retry finds the same bytes and makes no write call."""
        return CreateResult(id_=props["location"], outs=self._deploy(props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        """Changed hash or key versions update in place; a changed target (location) replaces."""
        replaces = ["target"] if olds.get("target") != news.get("target") else []
        changed = [k for k in ("renderHash", "keyVersions") if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(replaces or changed), replaces=replaces, stables=[],
                          delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """Render and write the new config; on failure the old one stays deployed."""
        return UpdateResult(outs=self._deploy(news))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        """Remove the deployed file/object/parameter. Already gone is fine."""
        open_deploy_target(props, StackSpec.model_validate_json(props["spec"])).delete()

    def _deploy(self, props: dict[str, Any]) -> dict[str, Any]:
        spec = StackSpec.model_validate_json(props["spec"])
        rendered = render_for_deploy(spec, Path(props["projectDir"]))
        outcome = open_deploy_target(props, spec).write(rendered)
        return {**props, "contentHash": rendered.sha256, "outcome": outcome}


class ConfigTarget(pulumi.dynamic.Resource, module="kimi-infra", name="ConfigTarget"):
    """The stack's OpenClaw config at one target. Outputs the deployed content hash."""

    contentHash: pulumi.Output[str]
    location: pulumi.Output[str]

    def __init__(self, resource_name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None):
        super().__init__(ConfigTargetProvider(), resource_name, {**props, "contentHash": None}, opts)
