"""`ConfigTarget`: the rendered OpenClaw config at one deployment target, as a dynamic resource.

Inputs are what decides the bytes: the hash of the config rendered with keys masked, the key
version ids (inline mode only, since only there do the bytes hold a key), and the target's
location. Inline keys are read from the store inside each method, so no key is ever an input,
and the `contentHash` output of a config with keys is keyed with the store's salt (never a bare
sha256 of key-bearing bytes in the state).

What is deployed, not the state, is the truth: `read` (`pulumi refresh`) reports the target's
live content hash, and `diff` (every preview and `up`) compares the target's live bytes with a
fresh render, so an edit or a deletion behind our back, or an inline key rotated in the store,
is repaired by the next `up`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, ResourceProvider, UpdateResult

from kimi_infra.content_hash import PLAIN, ContentHasher
from kimi_infra.deploy import content_hasher, render_for_deploy
from kimi_infra.models import StackSpec

# Inputs that decide the deployed bytes; a change updates the target in place.
CONTENT_INPUTS = ("renderHash", "keyVersions")
# Inputs that decide where the config lives; a change replaces the resource (new target first).
LOCATION_INPUTS = ("target", "location")


def open_deploy_target(props: dict[str, Any], spec: StackSpec, hasher: ContentHasher):
    """The target named by the resource's own `target` input (not looked up in the spec, which
    no longer lists a target that is being deleted)."""
    from pydantic import TypeAdapter

    from kimi_infra.models import TargetSpec
    from kimi_infra.targets import open_stack_target

    target_spec = TypeAdapter(TargetSpec).validate_python(props["target"])
    return open_stack_target(spec, target_spec, Path(props["projectDir"]), hasher)


class ConfigTargetProvider(ResourceProvider):
    """Writes the rendered config to one target; writes nothing when the bytes are already there."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        """Render and write. Idempotent: a retry finds the same bytes and makes no write call."""
        return CreateResult(id_=props["location"], outs=self._deploy(props))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """The target's live content hash; a target that is gone is gone (`up` writes it again)."""
        spec = _spec(props)
        deployed = open_deploy_target(props, spec, content_hasher(spec, Path(props["projectDir"]))).read()
        if deployed is None:
            return ReadResult(id_="", outs={})
        return ReadResult(id_=id_, outs={**props, "contentHash": deployed.content_hash})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        """A changed location replaces; changed content inputs, or live bytes that are not what a
        fresh render gives (drift, deletion, a rotated inline key), update in place."""
        replaces = [name for name in LOCATION_INPUTS if olds.get(name) != news.get(name)]
        changed = replaces + [name for name in CONTENT_INPUTS if olds.get(name) != news.get(name)]
        if not changed and _is_known(news) and not self._is_deployed(news):
            changed = ["contentHash"]
        return DiffResult(changes=bool(changed), replaces=replaces, stables=[], delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """Render and write the new config; on failure the old one stays deployed."""
        return UpdateResult(outs=self._deploy(news))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        """Remove the deployed file/object/parameter. Already gone is fine."""
        open_deploy_target(props, _spec(props), PLAIN).delete()  # compares nothing: no salt needed

    def _deploy(self, props: dict[str, Any]) -> dict[str, Any]:
        target, rendered = self._target_and_render(props)
        outcome = target.write(rendered)
        _publish_fleet_facts(props, rendered.content_hash)
        return {**props, "contentHash": rendered.content_hash, "outcome": outcome}

    def _is_deployed(self, props: dict[str, Any]) -> bool:
        from kimi_infra.targets.base import is_current

        target, rendered = self._target_and_render(props)
        return is_current(target.read(), rendered)

    def _target_and_render(self, props: dict[str, Any]) -> tuple[Any, Any]:
        """The target and a fresh render, hashed alike."""
        spec, project_dir = _spec(props), Path(props["projectDir"])
        hasher = content_hasher(spec, project_dir)
        return open_deploy_target(props, spec, hasher), render_for_deploy(spec, project_dir, hasher=hasher)


def _publish_fleet_facts(props: dict[str, Any], content_hash: str) -> None:
    """`pulumi up` publishes the fleet facts next to the target it wrote, as `deploy` does (the same
    core function), so agents see a change whichever door made it."""
    from pydantic import TypeAdapter

    from kimi_infra.models import TargetSpec
    from kimi_infra.ops.fleet import place_for, publish_facts

    spec = _spec(props)
    place = place_for(TypeAdapter(TargetSpec).validate_python(props["target"]))
    if spec.fleet is not None and place is not None:
        publish_facts(spec, Path(props["projectDir"]), content_hash, places=[place])


def _spec(props: dict[str, Any]) -> StackSpec:
    # JSON text, because the engine's wire format turns every int into a float.
    return StackSpec.model_validate_json(props["spec"])


def _is_known(props: dict[str, Any]) -> bool:
    """False during a preview where an input is not known yet (a key version still being created)."""
    from pulumi.runtime.rpc import UNKNOWN

    def known(value: Any) -> bool:
        if isinstance(value, dict):
            return all(known(v) for v in value.values())
        return value != UNKNOWN

    return all(known(props.get(name)) for name in ("spec", "projectDir", *LOCATION_INPUTS, *CONTENT_INPUTS))


class ConfigTarget(pulumi.dynamic.Resource, module="kimi-infra", name="ConfigTarget"):
    """The stack's OpenClaw config at one target. Outputs the deployed content hash."""

    contentHash: pulumi.Output[str]
    location: pulumi.Output[str]

    def __init__(self, resource_name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None):
        super().__init__(ConfigTargetProvider(), resource_name, {**props, "contentHash": None}, opts)
