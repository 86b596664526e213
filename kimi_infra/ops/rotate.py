"""Rotate and roll back one provider's API key in one stack, in small idempotent steps.

    stage   -> the new key becomes the pending version, whose id is the rotation token
    verify  -> `GET <baseUrl>/models` with it; a rejected key is discarded, current untouched
    promote -> pending becomes current, the old key previous (the store clears pending with it)
    write   -> inline stacks re-render and re-write every target; other modes write nothing

The token is derived from the key (a keyed hash with the store's salt), so running the same
rotation again is the same rotation:
each step checks the store state read at the start and skips what is done, and every store call
is itself idempotent. A run that stopped anywhere converges when run again (or with `--resume`,
which needs no key: it finishes the pending version in the store). At every point the current
key is the old or the new one, never missing.

Only the SecretStore protocol is used, so the AWS (aws, aws-cn) and local stores behave alike.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kimi_infra.catalog import provider as provider_info
from kimi_infra.content_hash import ContentHasher
from kimi_infra.errors import KimiInfraError
from kimi_infra.models import StackSpec
from kimi_infra.ops.verify import VerifyError, get_models
from kimi_infra.secret import Secret
from kimi_infra.stores import SecretDescription, SecretStore, Stage, StoreError, open_store
from kimi_infra.stores.base import ConcurrentRotationError

Progress = Callable[[str], None]

FaultHook = Callable[[str], None]
_fault_hook: FaultHook | None = None  # production installs none; crash tests install one
RELOAD_HINT = "openclaw secrets reload"
TOKEN_PREFIX = "kr-"
_OUR_TOKEN = re.compile(r"kr-[0-9a-f]{45}")


class RotationError(KimiInfraError):
    """A rotation or rollback cannot go on; the message says what to run next."""


def rotation_token(provider: str, key: Secret, salt: bytes) -> str:
    """The version id a key gets: "kr-" + HMAC-SHA256(salt, provider, key), 48 characters.

    The same key always gets the same token in the same store, so a re-run is idempotent and
    cannot stage the key twice. The salt is secret (kept with the store): without it, someone
    who may only list version ids cannot confirm a guessed key, as a bare sha256 would let them.
    """
    digest = hmac.new(salt, f"{provider}\0{key.reveal()}".encode(), hashlib.sha256).hexdigest()
    return (TOKEN_PREFIX + digest)[:48]


@dataclass(frozen=True)
class Rotation:
    """One rotation: which stack and provider, the new key and its token, where to verify it."""

    spec: StackSpec
    project_dir: Path
    provider: str
    store: SecretStore
    key: Secret
    token: str
    verify_url: str | None  # None: --skip-verify
    say: Progress
    # Other providers' current keys, read once by `stage` and reused by `write` (inline render).
    other_keys: dict[str, Secret] = field(default_factory=dict)
    # The current version id read at the start: `promote` is a compare-and-set against it.
    expected_current: str | None = None
    # The stack's salt when already read (for the token): inline re-writes hash with it, no re-read.
    salt: bytes | None = field(default=None, repr=False)
    # The verification's total deadline (None: verify's default). It bounds how long the rotation
    # lock is held while the provider answers: a trickling endpoint cannot hold it forever.
    verify_timeout: float | None = None

    @property
    def label(self) -> str:
        return _label(self.spec, self.provider)


def rotate(spec: StackSpec, project_dir: Path, provider: str, key: Secret, *, verify_url: str | None,
           say: Progress, verify_timeout: float | None = None) -> None:
    """Make `key` the provider's current key and re-write what holds it; safe to run again."""
    store = _open_store(spec, provider, project_dir)
    with store.exclusive():  # a second rotation of a local store waits, then sees our result
        state = store.describe()
        # Refused before the salt is made: a refusal writes nothing.
        others = _refuse_other_providers_key(spec, project_dir, provider, key)
        salt = store.token_salt()
        rotation = Rotation(spec, project_dir, provider, store, key, rotation_token(provider, key, salt), verify_url,
                            say, other_keys=others, expected_current=_current_id(state), salt=salt,
                            verify_timeout=verify_timeout)
        _require_no_other_rotation(rotation, state)
        if _already_current(rotation, state):
            say(f"{rotation.label}: the key is already current; nothing to rotate")
            write(rotation, state)
            return
        _run(rotation, state)


def resume(spec: StackSpec, project_dir: Path, provider: str, *, verify_url: str | None, say: Progress,
           verify_timeout: float | None = None) -> None:
    """Finish the rotation whose pending version is in the store; with none, re-write the
    targets from the current key (a run may have stopped after promoting)."""
    store = _open_store(spec, provider, project_dir)
    with store.exclusive():
        _resume(spec, project_dir, provider, store, verify_url=verify_url, say=say, verify_timeout=verify_timeout)


def _resume(spec: StackSpec, project_dir: Path, provider: str, store: SecretStore, *, verify_url: str | None,
            say: Progress, verify_timeout: float | None) -> None:
    label = _label(spec, provider)
    state = store.describe()
    pending = state.version_in("pending")
    if pending is None:
        say(f"{label}: no pending version: re-writing targets from the current key")
        write_targets(spec, project_dir, provider, say)
        return
    key = store.get("pending")
    if key is None:
        raise RotationError(f"pending version {pending.version_id} went away meanwhile (another run "
                            "finished or discarded it)", where=label, fix="run --resume again")
    say(f"{label}: resuming the rotation to pending version {_short(pending.version_id)}")
    _run(Rotation(spec, project_dir, provider, store, key, pending.version_id, verify_url, say,
                  expected_current=_current_id(state), verify_timeout=verify_timeout), state)


def rollback(spec: StackSpec, project_dir: Path, provider: str, *, say: Progress) -> None:
    """Make the previous key current again and re-write what holds it. Running it again swaps back."""
    store = _open_store(spec, provider, project_dir)
    label = _label(spec, provider)
    with store.exclusive():
        state = store.describe()
        pending = state.version_in("pending")
        if pending is not None:
            raise RotationError(f"a rotation is in progress (pending version {pending.version_id})", where=label,
                                fix=f"finish it first with `{_resume_command(spec.stack, provider)}`, then roll back")
        restored = store.rollback(expected_current=_current_id(state))
        say(f"{label}: rolled back: version {_short(restored)} is current again, the rotated-out key is previous")
        fault_point("rollback")
        write_targets(spec, project_dir, provider, say)


# --- the steps: each takes the state read at the start, skips what is done -------------------


def stage(rotation: Rotation, state: SecretDescription) -> None:
    """Store the new key as pending version `token` (`rotate` refused another provider's key first)."""
    if _holds(state, "pending", rotation.token):
        rotation.say(f"{rotation.label}: pending version {_short(rotation.token)} already staged")
        return
    rotation.store.stage_pending(rotation.key, rotation.token)
    rotation.say(f"{rotation.label}: staged pending version {_short(rotation.token)}")


def verify(rotation: Rotation, state: SecretDescription) -> None:
    """Ask the provider's endpoint whether the key works; on failure discard the pending key."""
    if _holds(state, "current", rotation.token):
        rotation.say(f"{rotation.label}: version {_short(rotation.token)} was verified before it became current")
        return
    if rotation.verify_url is None:
        rotation.say(f"{rotation.label}: not verified (--skip-verify)")
        return
    try:
        answer = get_models(rotation.provider, rotation.verify_url, rotation.key, rotation.verify_timeout)
    except VerifyError:
        rotation.store.discard_pending(rotation.token)
        rotation.say(f"{rotation.label}: verification failed: pending version discarded, current key unchanged")
        raise
    rotation.say(f"{rotation.label}: verified against {rotation.verify_url} (HTTP {answer.status})")


def promote(rotation: Rotation, state: SecretDescription) -> None:
    """Make the pending version current, if current is still what we saw at the start
    (compare-and-set); the store skips what an earlier run already did. Losing the race to
    another rotation withdraws our pending key and refuses in one line: no key is lost."""
    try:
        rotation.store.promote(rotation.token, expected_current=rotation.expected_current)
    except ConcurrentRotationError as error:
        rotation.store.discard_pending(rotation.token)
        raise RotationError(f"refused: {error.where}: {error.problem}", where=rotation.label, fix=error.fix) from None
    rotation.say(f"{rotation.label}: promoted: version {_short(rotation.token)} is current, the old key previous")


def write(rotation: Rotation, state: SecretDescription) -> None:
    """Re-write the targets that hold the key (inline mode); writing unchanged content is a no-op."""
    # The promoted key is current now: pass it rather than read it back from the store.
    write_targets(rotation.spec, rotation.project_dir, rotation.provider, rotation.say,
                  known_keys={**rotation.other_keys, rotation.provider: rotation.key}, salt=rotation.salt)


def write_targets(spec: StackSpec, project_dir: Path, provider: str, say: Progress,
                  known_keys: Mapping[str, Secret] | None = None, salt: bytes | None = None) -> None:
    """Inline: render from the current keys and write every target. Reference and secretref: no
    target holds a key, so nothing is written; say what the gateway needs.

    Whoever writes last must leave the current keys there (`write_until_current`, with a target that
    changed under us written again): when the keys keep changing under our writes, refuse naming
    `--resume`. `known_keys`: current keys the caller holds (a rotation's new key); `salt`: the
    stack's salt when the caller has read it already."""
    label = _label(spec, provider)
    if spec.files_reference_env:
        variable = provider_info(provider).env_var
        say(f"{label}: keyMode reference: targets hold ${{{variable}}}, not the key; nothing to re-write "
            f"(give the gateways the new key in {variable})")
        return
    if spec.gateway_fetches_keys:
        if publish_current(spec, project_dir, say):  # the agents reload their gateways themselves
            return
        say(f"{label}: keyMode secretref: targets hold no key; run `{RELOAD_HINT}` on each gateway "
            "so it picks up the new key")
        return
    from kimi_infra.deploy import TargetsMayBeStale, content_hasher, deploy_all

    resume = f"then run `{_resume_command(spec.stack, provider)}` to finish"
    try:
        deploy_all(spec, project_dir, lambda location, outcome: say(f"{label}: {location}: {outcome}"),
                   known_keys=known_keys, hasher=ContentHasher(salt) if salt else content_hasher(spec, project_dir),
                   record=True, say=lambda line: say(f"{label}: {line}"), retry_conflicts=True)
    except TargetsMayBeStale as error:
        raise RotationError(error.problem, where=label,
                            fix=f"when no other rotation of this stack runs, {resume}") from None
    except KimiInfraError as error:
        raise RotationError(f"the key changed but not every target was written: {error} ({resume})",
                            where=label) from None


_STEPS: tuple[tuple[str, Callable[[Rotation, SecretDescription], None]], ...] = (
    ("stage", stage), ("verify", verify), ("promote", promote), ("write", write),
)
STEPS = tuple(name for name, _ in _STEPS)
"""The step names, in order; a fault hook is called with each (and with `rollback`)."""


def _run(rotation: Rotation, state: SecretDescription) -> None:
    for name, step in _STEPS:
        step(rotation, state)
        fault_point(name)


def install_fault_hook(hook: FaultHook | None) -> FaultHook | None:
    """Call `hook(step)` right after each step (and after `rollback`); a hook that raises stops
    the run there, as a crash would. For crash tests; returns the hook it replaces."""
    global _fault_hook
    previous, _fault_hook = _fault_hook, hook
    return previous


def fault_point(step: str) -> None:
    """Where a crash test's hook may stop the run; nothing happens without one."""
    if _fault_hook is not None:
        _fault_hook(step)


# --- checks -------------------------------------------------------------------------------


def _require_no_other_rotation(rotation: Rotation, state: SecretDescription) -> None:
    pending = state.version_in("pending")
    if pending is None or pending.version_id == rotation.token:
        return
    raise RotationError(
        f"a rotation is already in progress (pending version {pending.version_id})", where=rotation.label,
        fix=f"finish it with `{_resume_command(rotation.spec.stack, rotation.provider)}` (a key the provider "
        "rejects is discarded), then rotate again")


def _already_current(rotation: Rotation, state: SecretDescription) -> bool:
    """Whether the new key is current with no step left. Versions we made are named by the token
    of their key, so ids settle it; only a version made elsewhere (`pulumi up`) is read. Without
    this, rotating to the current key would push the real previous key out of reach."""
    current = state.version_in("current")
    if current is None or _holds(state, "pending", rotation.token):
        return False
    if current.version_id == rotation.token:
        return True
    if _OUR_TOKEN.fullmatch(current.version_id):
        return False  # another key's token
    return rotation.store.get("current") == rotation.key


def _refuse_other_providers_key(spec: StackSpec, project_dir: Path, provider: str,
                                key: Secret) -> dict[str, Secret]:
    """Moonshot and Kimi Code keys are not interchangeable: refuse the other provider's key.
    Returns the other providers' current keys (those that exist)."""
    others: dict[str, Secret] = {}
    for other in spec.providers:
        if other == provider:
            continue
        current = _current_or_none(open_store(spec, other, project_dir))
        if current == key:
            raise RotationError(f"the new key is {other}'s current key in this stack", where=_label(spec, provider),
                                fix=f"give the {provider} key (Moonshot and Kimi Code keys are not interchangeable)")
        if current is not None:
            others[other] = current
    return others


def _current_or_none(store: SecretStore) -> Secret | None:
    try:
        return store.get("current")
    except StoreError:
        if store.exists():  # only a missing secret is fine: it holds no key to clash with
            raise
        return None


def _open_store(spec: StackSpec, provider: str, project_dir: Path) -> SecretStore:
    """The provider's store, after refusing targets that would overwrite kimi-infra's own files:
    before the first stage moves, not when the targets are re-written at the end."""
    from kimi_infra.path_rules import check_distinct_paths
    from kimi_infra.paths import stack_file

    check_distinct_paths(project_dir, spec, stack_file(spec.stack))
    return open_store(spec, provider, project_dir)


def _current_id(state: SecretDescription) -> str | None:
    current = state.version_in("current")
    return current.version_id if current else None


def _holds(state: SecretDescription, stage_name: Stage, version_id: str) -> bool:
    version = state.version_in(stage_name)
    return version is not None and version.version_id == version_id


def _label(spec: StackSpec, provider: str) -> str:
    """How progress lines and errors name the key: `<stack>/<provider>`."""
    return f"{spec.stack}/{provider}"


def _short(token: str) -> str:
    return token[:15] + "..."


def _resume_command(stack: str, provider: str) -> str:
    return f"python -m kimi_infra rotate --stack {stack} --provider {provider} --resume"


def publish_current(spec: StackSpec, project_dir: Path, say: Callable[[str], None] | None = None) -> list[str]:
    """Publish the facts of what is deployed now: the fresh render's hash (after a rotation in
    reference or secretref mode, which writes no target but changes a key version). Here, not in
    `kimi_infra.fleet`: it renders, and `deploy` (which publishes facts too) sits above the fleet module."""
    if spec.fleet is None:
        return []
    from kimi_infra.deploy import render_for_deploy
    from kimi_infra.fleet import publish_facts

    return publish_facts(spec, project_dir, render_for_deploy(spec, project_dir).content_hash, say)
