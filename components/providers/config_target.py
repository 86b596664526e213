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

Ownership (`kimi_infra.ownership`, the rules `deploy` applies): `create` refuses to overwrite a
target that holds content kimi-infra never wrote; `delete` (destroy, a target dropped, or the
old location after a replace) removes a location only where it is still ours. One that another
stack names now, or that breaks a path rule, is kept and forgotten (a warning line); one whose
content is not what we wrote there (`writtenHash`, which `refresh` does not change) fails the
step, and the file stays.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
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

from components.providers import (
    LEGACY_INPUTS,
    portable_location,
    running_project_dir,
    same_location,
    validated,
    without_legacy,
)
from components.providers.prompt_exit import TrackedProvider
from kimi_infra.content_hash import KEYED_ALGORITHM, PLAIN, ContentHasher
from kimi_infra.deploy import content_hasher, keyed_hasher, render_for_deploy
from kimi_infra.errors import KimiInfraError
from kimi_infra.models import StackSpec
from kimi_infra.ownership import Written, foreign_reason, keep_reason
from kimi_infra.render import Rendered
from kimi_infra.secret import Secret

# Inputs that decide the deployed bytes; a change updates the target in place.
CONTENT_INPUTS = ("renderHash", "keyVersions")
# Inputs that decide where the config lives; a change replaces the resource (new target first).
# A file target's `location` is relative to the project: no checkout's path is in the state.
LOCATION_INPUTS = ("target", "location")


def open_deploy_target(props: dict[str, Any], spec: StackSpec, hasher: ContentHasher):
    """The target named by the resource's own `target` input (not looked up in the spec, which
    no longer lists a target that is being deleted), in the project the engine runs now: a
    refresh or destroy from another checkout acts on that checkout's files."""
    from kimi_infra.models import TargetSpec
    from kimi_infra.targets import open_stack_target

    target_spec = validated(TargetSpec, props["target"])
    return open_stack_target(spec, target_spec, running_project_dir(), hasher)


class ConfigTargetProvider(TrackedProvider):
    """Writes the rendered config to one target; writes nothing when the bytes are already there."""

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        """The target's path passes the path rules `deploy` applies (never a stack file, a key
        store, a lock, the deploy record...), checked again here, where it is written."""
        if not all(_known(news.get(name)) for name in ("spec", "target")):
            return CheckResult(news, [])
        try:
            check_target_path(news)
        except KimiInfraError as error:
            return CheckResult(news, [CheckFailure("target", str(error))])
        return CheckResult(news, [])

    def create(self, props: dict[str, Any]) -> CreateResult:
        """Render and write. Idempotent: a retry finds the same bytes and makes no write call.
        A target holding content kimi-infra never wrote is refused (nothing written)."""
        return CreateResult(id_=props["location"], outs=self._deploy(props, first=True))

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
        """Remove the deployed file/object/parameter where it is still ours. Already gone is fine."""
        from kimi_infra.models import TargetSpec
        from kimi_infra.targets import TargetError

        spec, project_dir = _spec(props), running_project_dir()
        target = open_deploy_target(props, spec, PLAIN)  # keep_reason hashes as the stored hash was taken
        written = [Written(props.get("writtenHash") or props.get("contentHash"),
                           KEYED_ALGORITHM if spec.files_hold_keys else PLAIN.algorithm),  # as `content_hasher` took it
                   *_rendered_now(spec, project_dir)]
        keep = keep_reason(spec, validated(TargetSpec, props["target"]), target, project_dir,
                           written, lambda: keyed_hasher(spec, project_dir))
        if keep is None:
            target.delete()
        elif keep.final:
            print(f"warning: {target.location}: kept, not removed: {keep.reason}", file=sys.stderr, flush=True)
        else:
            raise TargetError(f"not removed: {keep.reason}", where=target.location,
                              fix="if it may go, remove it yourself and run again; to keep it, move it aside, "
                              "run again, then move it back")

    def _deploy(self, props: dict[str, Any], *, first: bool = False) -> dict[str, Any]:
        """Render and write, again while a rotation changes the keys under us (`write_until_current`, the
        rule `deploy` and `rotate` follow); `first`: refuse content kimi-infra never wrote (before any write)."""
        from kimi_infra.deploy import write_until_current

        check_target_path(props)
        spec, project_dir = _spec(props), running_project_dir()
        hasher = content_hasher(spec, project_dir)
        target = open_deploy_target(props, spec, hasher)
        attempts = 0

        def write(keys: Mapping[str, Secret]) -> tuple[Rendered, str]:
            nonlocal attempts
            attempts += 1
            rendered = render_for_deploy(spec, project_dir, known_keys=keys, hasher=hasher)
            if first and attempts == 1:  # a later attempt follows a write of ours that landed
                _refuse_foreign(spec, project_dir, target, rendered)
            return rendered, target.write(rendered)

        rendered, outcome = write_until_current(spec, project_dir, write)
        _publish_fleet_facts(props, rendered.content_hash)
        return {**props, "contentHash": rendered.content_hash, "writtenHash": rendered.content_hash,
                "outcome": outcome}

    def _is_deployed(self, props: dict[str, Any]) -> bool:
        from kimi_infra.targets.base import is_current

        target, rendered = self._target_and_render(props, read_only=True)  # every preview runs this
        return is_current(target.read(), rendered)

    def _target_and_render(self, props: dict[str, Any], read_only: bool = False) -> tuple[Any, Any]:
        """The target and a fresh render, hashed alike (`read_only`: a missing salt is not made,
        see `keyed_hasher`)."""
        spec, project_dir = _spec(props), running_project_dir()
        hasher = content_hasher(spec, project_dir, read_only=read_only)
        return open_deploy_target(props, spec, hasher), render_for_deploy(spec, project_dir, hasher=hasher)


def _legacy_changes(olds: dict[str, Any], news: dict[str, Any]) -> list[str]:
    """What an older kimi-infra's state holds that is now written otherwise (the checkout's path, a
    file target's absolute location): an in-place update, which writes the same bytes, i.e. nothing,
    drops it from the state."""
    legacy = [name for name in LEGACY_INPUTS if name in olds]
    moved = olds.get("location") != news.get("location") and same_location(olds.get("location"), news.get("location"))
    return [*legacy, "location"] if moved else legacy


def _rendered_now(spec: StackSpec, project_dir: Path) -> list[Written]:
    """What kimi-infra writes for `spec` today (a `rotate` or `deploy` since our last write wrote
    it: still ours); none when it cannot be rendered (a key gone from the store)."""
    try:
        hasher = content_hasher(spec, project_dir)
        return [Written(render_for_deploy(spec, project_dir, hasher=hasher).content_hash, hasher.algorithm)]
    except KimiInfraError:
        return []


def _refuse_foreign(spec: StackSpec, project_dir: Path, target: Any, rendered: Rendered) -> None:
    """A first write never overwrites content kimi-infra never wrote (nothing written then)."""
    from kimi_infra.targets import TargetError

    foreign = foreign_reason(spec, target, project_dir, rendered, lambda: keyed_hasher(spec, project_dir))
    if foreign:
        raise TargetError(f"not overwritten: {foreign}", where=target.location,
                          fix=f"review it with `kimi-infra deploy --stack {spec.stack} --preview`, then "
                          "move it aside, or overwrite it with `deploy --yes` once; run again")


def check_target_path(props: dict[str, Any]) -> None:
    """The path rules of `check_distinct_paths` for the resource's own target (which a spec being
    deleted no longer lists); KimiInfraError names the stack file and the field."""
    from kimi_infra.models import TargetSpec
    from kimi_infra.path_rules import check_distinct_paths
    from kimi_infra.paths import stack_file

    spec = _spec(props)
    target = validated(TargetSpec, props["target"])
    alone = spec.model_copy(update={"targets": [target]})
    check_distinct_paths(running_project_dir(), alone, stack_file(spec.stack))


def _publish_fleet_facts(props: dict[str, Any], content_hash: str) -> None:
    """`pulumi up` publishes the fleet facts next to the target it wrote, as `deploy` does (the same
    core function), so agents see a change whichever door made it."""
    from kimi_infra.fleet import place_for, publish_facts
    from kimi_infra.models import TargetSpec

    spec = _spec(props)
    place = place_for(validated(TargetSpec, props["target"]))
    if spec.fleet is not None and place is not None:
        publish_facts(spec, running_project_dir(), content_hash, places=[place])


def _spec(props: dict[str, Any]) -> StackSpec:
    # JSON text, because the engine's wire format turns every int into a float.
    return StackSpec.model_validate_json(props["spec"])


def _is_known(props: dict[str, Any]) -> bool:
    """False during a preview where an input is not known yet (a key version still being created)."""
    return all(_known(props.get(name)) for name in ("spec", *LOCATION_INPUTS, *CONTENT_INPUTS))


def _known(value: Any) -> bool:
    """False for a value (or a value inside a mapping) that a preview does not know yet."""
    from pulumi.runtime.rpc import UNKNOWN

    if isinstance(value, dict):
        return all(_known(v) for v in value.values())
    return value != UNKNOWN


class ConfigTarget(pulumi.dynamic.Resource, module="kimi-infra", name="ConfigTarget"):
    """The stack's OpenClaw config at one target. Outputs the deployed content hash."""

    contentHash: pulumi.Output[str]
    location: pulumi.Output[str]

    def __init__(self, resource_name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None):
        super().__init__(ConfigTargetProvider(), resource_name, {**props, "contentHash": None}, opts)
