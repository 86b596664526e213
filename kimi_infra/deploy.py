"""Render a stack for deployment and write it to targets: shared by `pulumi up`, rotate and status.

Imports no pulumi. In inline mode the keys come from the store's current versions.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from kimi_infra.atomic import is_special_file
from kimi_infra.aws import reusing_clients
from kimi_infra.content_hash import PLAIN, ContentHasher
from kimi_infra.errors import KimiInfraError, in_file
from kimi_infra.models import FileTargetSpec, S3TargetSpec, SsmTargetSpec, StackSpec, TargetSpec
from kimi_infra.path_rules import check_distinct_paths
from kimi_infra.paths import stack_file
from kimi_infra.render import Rendered, render_masked, render_stack
from kimi_infra.secret import Secret


def render_for_deploy(spec: StackSpec, project_dir: Path, *, masked: bool = False,
                      known_keys: Mapping[str, Secret] | None = None,
                      hasher: ContentHasher | None = None) -> Rendered:
    """The stack's config as deployed; inline keys come from the store (or are masked).

    `known_keys` are current keys the caller already holds (a rotation's new key), not re-read.
    A config with keys is hashed with `hasher`, else with the stack's (see `content_hasher`).
    """
    with in_file(stack_file(spec.stack)):
        if not spec.files_hold_keys or masked:
            return render_masked(spec)
        rendered = render_stack(spec, current_keys(spec, project_dir, known_keys))
    return rendered.hashed_with(hasher or content_hasher(spec, project_dir))


def content_hasher(spec: StackSpec, project_dir: Path, *, read_only: bool = False) -> ContentHasher:
    """How the stack's deployed configs are hashed: plain sha256 unless they hold keys (inline
    mode); then HMAC keyed by the salt kept with the stack's store (made on first use, unless
    `read_only`: see `keyed_hasher`)."""
    return keyed_hasher(spec, project_dir, read_only=read_only) if spec.files_hold_keys else PLAIN


def keyed_hasher(spec: StackSpec, project_dir: Path, *, read_only: bool = False) -> ContentHasher:
    """HMAC keyed by the salt kept with the stack's store (made on first use), whatever its keyMode.

    `read_only` (status, history, a preview): a store without a salt yet stays so (no store file,
    no salt secret); the hashes are then taken with a one-off salt that lives in this process
    only. They compare alike, and nothing was ever hashed with the stack's salt before it existed.
    """
    from kimi_infra.stores import open_store
    from kimi_infra.stores.base import new_salt

    store = open_store(spec, spec.providers[0], project_dir)
    if not read_only:
        return ContentHasher(store.token_salt())
    salt = store.read_salt()
    return ContentHasher(bytes.fromhex(new_salt()) if salt is None else salt)


def current_keys(spec: StackSpec, project_dir: Path,
                 known_keys: Mapping[str, Secret] | None = None) -> dict[str, Secret]:
    """Each enabled provider's current key: from `known_keys`, else from the stack's store."""
    from kimi_infra.key_rules import set_key_hint
    from kimi_infra.stores import StoreError, open_store

    keys = dict(known_keys or {})
    for name in spec.providers:
        if name in keys:
            continue
        store = open_store(spec, name, project_dir)
        key = store.get("current")
        if key is None:
            raise StoreError("no current key to render inline", where=store.name, fix=set_key_hint(spec.stack, name))
        keys[name] = key
    return keys


WRITE_ATTEMPTS = 4
"""Writes of the targets in one run, each followed by the check that its keys are still current."""

T = TypeVar("T")


class TargetsMayBeStale(KimiInfraError):
    """A run wrote its targets but cannot say that they hold the current keys (see `write_until_current`)."""


def write_until_current(spec: StackSpec, project_dir: Path, write: Callable[[Mapping[str, Secret]], T],
                        known_keys: Mapping[str, Secret] | None = None, say: Callable[[str], None] | None = None,
                        *, retry_conflicts: bool = False) -> T:
    """`write(keys)` renders the stack with `keys` and writes it; returns what the last write returned.

    Whoever writes last must leave the current keys in targets that hold keys (inline mode). A
    rotation, rollback or resume may make a key current after we read ours and write its targets
    before our write lands (no conflict then: our write reads what it wrote). So after writing, each
    key we wrote must still be current; else we write again from the store's current keys,
    WRITE_ATTEMPTS times at most, then raise TargetsMayBeStale (also when the keys cannot be read
    again). `known_keys`: current keys the caller holds (a new key). `retry_conflicts` (rotate): a
    target that changed between our read and our write (ConflictError) is written again too;
    otherwise, and on the last attempt, the conflict is raised (nothing overwritten). Stacks whose
    targets hold no key are written once.
    """
    from kimi_infra.targets import ConflictError

    if not spec.files_hold_keys:
        return write({})
    keys = current_keys(spec, project_dir, known_keys)  # read before the render: what the check compares
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        try:
            written = write(keys)
        except ConflictError:
            if not retry_conflicts or attempt == WRITE_ATTEMPTS:
                raise
            if say:
                say("a target changed under us; writing it again from the current keys")
            keys = current_keys(spec, project_dir)
            continue
        now = _keys_after_write(spec, project_dir)
        if now == keys:
            return written
        if say:
            say("a newer key became current while this run wrote the targets; writing them again from the current keys")
        keys = now
    raise TargetsMayBeStale(f"the keys changed each time this run wrote the targets ({WRITE_ATTEMPTS} writes), so "
                            "they may not hold the current keys", where=f"stack {spec.stack}",
                            fix=f"when no rotation of the stack runs, {_DEPLOY_AGAIN.format(stack=spec.stack)}")


_DEPLOY_AGAIN = "deploy again (`pulumi up`, or `kimi-infra deploy --stack {stack}`)"


def _keys_after_write(spec: StackSpec, project_dir: Path) -> dict[str, Secret]:
    """The current keys, read again after a write; TargetsMayBeStale (saying that the targets were written)
    when they cannot be read."""
    try:
        return current_keys(spec, project_dir)
    except KimiInfraError as error:
        where = f"{error.where}: " if error.where else ""
        raise TargetsMayBeStale(f"every target was written, but the keys could not be read again to check that "
                                f"they are still current ({where}{error.problem})", where=f"stack {spec.stack}",
                                fix=f"{error.fix or 'make the store reachable'}, then "
                                f"{_DEPLOY_AGAIN.format(stack=spec.stack)}") from None


@dataclass(frozen=True)
class Deployment:
    """What a deploy wrote: the config (its last render), each target's outcome (target name ->
    outcome) and the targets' locations."""

    rendered: Rendered
    outcomes: dict[str, str]
    locations: list[str]


@reusing_clients()
def deploy_all(spec: StackSpec, project_dir: Path, progress: Callable[[str, str], None] | None = None,
               known_keys: Mapping[str, Secret] | None = None, hasher: ContentHasher | None = None,
               record: bool = False, say: Callable[[str], None] | None = None,
               retry_conflicts: bool = False) -> Deployment:
    """Render and write every target of the stack, again while the keys change under it (see
    `write_until_current`, which says so through `say`, and what `retry_conflicts` does).

    `known_keys`: current keys the caller already holds (see `render_for_deploy`); `hasher`: the
    stack's `content_hasher` when the caller already has it; `record`: note the new content in the
    deploy record (a rotation's re-write), so that `deploy` does not take it for drift.
    """
    check_distinct_paths(project_dir, spec, stack_file(spec.stack))
    stack_hasher = hasher or content_hasher(spec, project_dir)
    deployment = write_until_current(
        spec, project_dir, lambda keys: write_targets(spec, project_dir, keys, stack_hasher, progress),
        known_keys, say, retry_conflicts=retry_conflicts)
    if record:
        from kimi_infra.deploy_record import record_deployed

        record_deployed(project_dir, spec.stack, deployment.locations, deployment.rendered.content_hash,
                        stack_hasher.algorithm)
    if spec.fleet is not None:  # after the targets: an agent never sees facts ahead of their config
        from kimi_infra.fleet import publish_facts

        for location in publish_facts(spec, project_dir, deployment.rendered.content_hash):
            if progress:
                progress(f"{location} (fleet facts)", "published")
    return deployment


def write_targets(spec: StackSpec, project_dir: Path, keys: Mapping[str, Secret], hasher: ContentHasher,
                  progress: Callable[[str, str], None] | None = None) -> Deployment:
    """One render with `keys` (see `render_for_deploy`), written to every target."""
    from kimi_infra.targets import open_stack_target

    rendered = render_for_deploy(spec, project_dir, known_keys=keys, hasher=hasher)
    deployment = Deployment(rendered, {}, [])
    for target_spec in spec.targets:
        target = open_stack_target(spec, target_spec, project_dir, hasher)
        deployment.outcomes[target_spec.name] = target.write(rendered)
        deployment.locations.append(target.location)
        if progress:
            progress(target.location, deployment.outcomes[target_spec.name])
    return deployment


def seed_missing_keys(spec: StackSpec, project_dir: Path, keys: dict[str, Secret]) -> list[str]:
    """Store each given key whose secret does not exist yet; never overwrite one (that is what
    `rotate` is for). Returns the secret names created."""
    from kimi_infra.stores import open_store

    created = []
    for name, key in keys.items():
        store = open_store(spec, name, project_dir)
        if not store.exists():
            store.ensure(key)
            created.append(store.name)
    return created


# --- preflight: everything that can fail is checked before the first write ------------------


@dataclass(frozen=True)
class KeySource:
    """Where the keys a deploy may store come from, as error lines name it: the environment
    (`deploy`) or the stack's secret config (`pulumi up`)."""

    from_config: bool

    def label(self, provider: str) -> str:
        """`$MOONSHOT_API_KEY`, or `kimi-infra:moonshotApiKey`."""
        from kimi_infra.catalog import provider as provider_info

        info = provider_info(provider)
        return f"kimi-infra:{info.config_key}" if self.from_config else f"${info.env_var}"

    def where(self, stack: str, provider: str) -> str:
        """Where an error about the key points: the stack file's setting, or the variable."""
        return f"{stack_file(stack)}: {self.label(provider)}" if self.from_config else self.label(provider)

    def how_to_give(self, provider: str) -> str:
        """The fix's second half: how to give the key through this door."""
        if self.from_config:
            return f"or `pulumi config set --secret {self.label(provider)}` (reads stdin) and run `pulumi up` again"
        variable = self.label(provider).removeprefix("$")
        return f"or export {variable} and run deploy again (it is stored once, never overwritten)"


FROM_ENVIRONMENT = KeySource(from_config=False)
FROM_CONFIG = KeySource(from_config=True)


def preflight(spec: StackSpec, project_dir: Path, new_keys: Mapping[str, Secret],
              source: KeySource = FROM_ENVIRONMENT) -> None:
    """Refuse a deploy that would fail half way, before any key is stored or target written:
    the one set of guards of both doors, `deploy` and the Pulumi program (`pulumi preview/up`).

    Checks that file targets are distinct from kimi-infra's own files (and can be paths at all),
    that the keys given (`new_keys`, from `source`) pass the checks `set-key` makes, that every key
    the key mode needs is in the store or given, and that every target can take the config
    (a writable regular file or folder, bucket reachable, SSM size within the Advanced tier).
    """
    check_distinct_paths(project_dir, spec, stack_file(spec.stack))
    with reusing_clients():
        check_new_keys(spec, project_dir, new_keys, source)
        keys = _needed_keys(spec, project_dir, new_keys, source)
        with in_file(stack_file(spec.stack)):
            rendered = render_stack(spec, keys) if spec.files_hold_keys else render_masked(spec)
        for target_spec in spec.targets:
            _check_target(spec, target_spec, project_dir, rendered)


def check_new_keys(spec: StackSpec, project_dir: Path, keys: Mapping[str, Secret], source: KeySource) -> None:
    """The checks `set-key` makes on a key it is given, for keys a deploy may store: the shape of
    a bearer token (no inner newline, CR, padding, control or non-ASCII character), one key
    given for two providers, and another provider's stored key given for this one."""
    from kimi_infra.key_rules import check_key_text, refuse_shared_keys
    from kimi_infra.stores import refuse_other_providers_key

    for name, key in keys.items():
        try:
            check_key_text(name, key)
        except KimiInfraError as error:
            raise KimiInfraError(error.problem, where=source.where(spec.stack, name), fix=error.fix) from None
    with in_file(stack_file(spec.stack)):
        refuse_shared_keys(keys, field=", ".join(source.label(name) for name in keys))
    for name, key in keys.items():
        refuse_other_providers_key(spec, project_dir, name, key)


def _needed_keys(spec: StackSpec, project_dir: Path, given: Mapping[str, Secret],
                 source: KeySource) -> dict[str, Secret]:
    """Inline and secretref stacks need every provider's key: the store's current one, else the
    one given (which the deploy then stores). Reference stacks need none."""
    from kimi_infra.key_rules import set_key_hint
    from kimi_infra.stores import open_store

    if spec.files_reference_env:
        return {}
    keys: dict[str, Secret] = {}
    for name in spec.providers:
        store = open_store(spec, name, project_dir)
        stored = store.get("current") if store.exists() else None
        key = stored or given.get(name)
        if key is None:
            raise KimiInfraError(f"kimi-infra:keyMode: {spec.keyMode} needs the {name} key, but {store.name} has "
                                 f"none and {source.label(name)} is not set", where=stack_file(spec.stack),
                                 fix=f"{set_key_hint(spec.stack, name)}, {source.how_to_give(name)}")
        keys[name] = key
    return keys


def _check_target(spec: StackSpec, target_spec: TargetSpec, project_dir: Path, rendered: Rendered) -> None:
    from kimi_infra.targets import LocalFileTarget, open_stack_target

    if isinstance(target_spec, FileTargetSpec):
        target = open_stack_target(spec, target_spec, project_dir, PLAIN)
        assert isinstance(target, LocalFileTarget)
        for path in (target.path, target.history_path):  # the log is appended to after the write
            if path is not None:
                _check_file_target(target_spec, path)
    elif isinstance(target_spec, S3TargetSpec):
        _check_bucket(target_spec)
    else:
        _check_parameter_size(target_spec, rendered)


def _check_file_target(target_spec: FileTargetSpec, path: Path) -> None:
    where = f"target {target_spec.name} ({path})"
    try:
        _check_writable_file(path, where)
    except OSError as error:  # a name too long, a loop of symlinks: no write could succeed either
        raise KimiInfraError(f"cannot be examined: {error.strerror or type(error).__name__}", where=where,
                             fix="change `path` in the stack file") from None


def _check_writable_file(path: Path, where: str) -> None:
    """A regular file this user can replace (write_atomic renames a temp over it), or a new file
    in a folder this user can create or write."""
    if path.is_dir():
        raise KimiInfraError("is a folder", where=where, fix="point `path` in the stack file at a file")
    if path.exists():
        if is_special_file(path):  # a FIFO or device: never renamed over (see write_atomic)
            raise KimiInfraError("is not a regular file", where=where, fix="point `path` in the stack file at a file")
        if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK | os.X_OK):
            raise KimiInfraError("not writable by this user", where=where, fix="fix its permissions or change `path`")
        return
    folder = next((p for p in path.parents if p.exists() or p.is_symlink()), None)
    if folder is None or not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise KimiInfraError(f"its folder cannot be created by this user ({folder})", where=where,
                             fix="create the folder or change `path` in the stack file")
    limit = os.pathconf(folder, "PC_NAME_MAX")
    if any(len(os.fsencode(part)) > limit for part in path.relative_to(folder).parts):
        raise KimiInfraError(f"a name in it is longer than the file system's {limit} bytes", where=where,
                             fix="shorten `path` in the stack file")


def _check_bucket(target_spec: S3TargetSpec) -> None:
    from kimi_infra.aws import client
    from kimi_infra.targets.base import aws_errors

    location = f"s3://{target_spec.bucket}/{target_spec.key}"
    with aws_errors(location, "reach the bucket"):
        client("s3", target_spec.region).head_bucket(Bucket=target_spec.bucket)


def _check_parameter_size(target_spec: SsmTargetSpec, rendered: Rendered) -> None:
    from kimi_infra.targets.ssm import ADVANCED_LIMIT

    size = len(rendered.text.encode("utf-8"))
    if size > ADVANCED_LIMIT:
        raise KimiInfraError(f"the config is {size} bytes, over SSM's {ADVANCED_LIMIT}-byte Advanced tier",
                             where=f"target {target_spec.name} (ssm:{target_spec.region}:{target_spec.parameter})",
                             fix="use an S3 or file target for this stack, or trim models/overrides")
