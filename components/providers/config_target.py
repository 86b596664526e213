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

from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, ResourceProvider, UpdateResult

from components.providers import LEGACY_INPUTS, portable_location, running_project_dir, same_location, without_legacy
from kimi_infra.content_hash import PLAIN, ContentHasher
from kimi_infra.deploy import content_hasher, render_for_deploy
from kimi_infra.models import StackSpec

# Inputs that decide the deployed bytes; a change updates the target in place.
CONTENT_INPUTS = ("renderHash", "keyVersions")
# Inputs that decide where the config lives; a change replaces the resource (new target first).
# A file target's `location` is relative to the project: no checkout's path is in the state.
LOCATION_INPUTS = ("target", "location")


def open_deploy_target(props: dict[str, Any], spec: StackSpec, hasher: ContentHasher):
    """The target named by the resource's own `target` input (not looked up in the spec, which
    no longer lists a target that is being deleted), in the project the engine runs now: a
    refresh or destroy from another checkout acts on that checkout's files."""
    from pydantic import TypeAdapter

    from kimi_infra.models import TargetSpec
    from kimi_infra.targets import open_stack_target

    target_spec = TypeAdapter(TargetSpec).validate_python(props["target"])
    return open_stack_target(spec, target_spec, running_project_dir(), hasher)


class ConfigTargetProvider(ResourceProvider):
    """Writes the rendered config to one target; writes nothing when the bytes are already there."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        """Render and write. Idempotent: a retry finds the same bytes and makes no write call."""
        return CreateResult(id_=props["location"], outs=self._deploy(props))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """The target's live content hash; a target that is gone is gone (`up` writes it again)."""
        spec, project_dir = _spec(props), running_project_dir()
        target = open_deploy_target(props, spec, content_hasher(spec, project_dir))
        deployed = target.read()
        if deployed is None:
            return ReadResult(id_="", outs={})
        # An older state's absolute path (location and id) gives way to the project-relative one.
        location = portable_location(target.location, project_dir)
        return ReadResult(id_=location if same_location(id_, location) else id_,
                          outs={**without_legacy(props), "location": location, "contentHash": deployed.content_hash})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        """A changed location replaces; changed content inputs, or live bytes that are not what a
        fresh render gives (drift, deletion, a rotated inline key), update in place. A state an
        older kimi-infra wrote (the checkout's path in it) updates in place, writing nothing."""
        replaces = [name for name in LOCATION_INPUTS if not same_location(olds.get(name), news.get(name))]
        changed = replaces + [name for name in CONTENT_INPUTS if olds.get(name) != news.get(name)]
        changed += _legacy_changes(olds, news)
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
        return {**props, "contentHash": rendered.content_hash, "outcome": outcome}

    def _is_deployed(self, props: dict[str, Any]) -> bool:
        from kimi_infra.targets.base import is_current

        target, rendered = self._target_and_render(props)
        return is_current(target.read(), rendered)

    def _target_and_render(self, props: dict[str, Any]) -> tuple[Any, Any]:
        """The target and a fresh render, hashed alike."""
        spec, project_dir = _spec(props), running_project_dir()
        hasher = content_hasher(spec, project_dir)
        return open_deploy_target(props, spec, hasher), render_for_deploy(spec, project_dir, hasher=hasher)


def _legacy_changes(olds: dict[str, Any], news: dict[str, Any]) -> list[str]:
    """What an older kimi-infra's state holds that is now written otherwise (the checkout's path, a
    file target's absolute location): an in-place update, which writes the same bytes, i.e. nothing,
    drops it from the state."""
    legacy = [name for name in LEGACY_INPUTS if name in olds]
    moved = olds.get("location") != news.get("location") and same_location(olds.get("location"), news.get("location"))
    return [*legacy, "location"] if moved else legacy


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

    return all(known(props.get(name)) for name in ("spec", *LOCATION_INPUTS, *CONTENT_INPUTS))


class ConfigTarget(pulumi.dynamic.Resource, module="kimi-infra", name="ConfigTarget"):
    """The stack's OpenClaw config at one target. Outputs the deployed content hash."""

    contentHash: pulumi.Output[str]
    location: pulumi.Output[str]

    def __init__(self, resource_name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None):
        super().__init__(ConfigTargetProvider(), resource_name, {**props, "contentHash": None}, opts)
