"""`kimi-infra agent`: on a gateway host, keep the file the gateway `$include`s equal to the stack's
config, make the gateway pick up rotated keys, and report what it runs.

Design (see `kimi_infra.fleet` and the README's "Fleet" section): each poll is one request for
the stack's facts (S3: a conditional GetObject answered 304 without a body; SSM: GetParameter of the
small facts parameter). Only a new config revision makes it read the config, and only a new key
version (secretref mode) makes it run `openclaw secrets reload`; the agent never reads a key. It
keeps no state of its own: what it applied is the include file's hash and its own last report.

Every check happens before anything is written: bad input is one line and exit 2. A config that
fails a check is refused with one line, reported, and the last good include file stays.
"""

from __future__ import annotations

import os
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from kimi_infra import __version__
from kimi_infra.aws import check_profile
from kimi_infra.content_hash import PLAIN, ContentHasher
from kimi_infra.errors import KimiInfraError
from kimi_infra.fleet import (
    GATEWAY_ID,
    Facts,
    Place,
    S3Place,
    Say,
    iso,
    now_utc,
    place_for,
    require_fleet,
)
from kimi_infra.models import StackSpec

DEFAULT_INTERVAL_S = 30.0
MAX_BACKOFF_S = 300.0
INCLUDE_MODE_KEYS = 0o600
INCLUDE_MODE_PLAIN = 0o644


class RefusedConfig(KimiInfraError):
    """A published config failed a check: refused, reported, the last good one stays."""


@dataclass(frozen=True)
class AgentSettings:
    """Everything `agent` was told, checked: which stack and target, where to write, who we are."""

    spec: StackSpec
    project_dir: Path
    place: Place
    include: Path
    gateway_id: str
    host: str
    interval: float
    openclaw: str | None

    @property
    def heartbeat(self) -> float:
        return float(self.spec.fleet.heartbeatSeconds) if self.spec.fleet else DEFAULT_INTERVAL_S


@dataclass
class AgentState:
    """What this agent has applied and seen (in memory: rebuilt from the include file and its report)."""

    tag: str | None = None
    applied_revision: str | None = None
    key_versions: dict[str, str] = field(default_factory=dict)
    applied_at: str | None = None
    last_error: str | None = None
    reload_pending: dict[str, str] | None = None
    refused: RefusedConfig | None = None  # why the facts at `tag` were refused: reported until they change
    failures: int = 0
    last_report: float | None = None
    hasher: ContentHasher | None = None
    include_seen: tuple[int, int, int] | None = None  # the include file as we last wrote or read it


# --- checking the input (before anything is written) --------------------------------------------


def check_settings(project_dir: Path, stack: str, target: str, include: Path, gateway_id: str | None,
                   interval: float, openclaw: str | None) -> AgentSettings:
    """Check every option; a KimiInfraError (exit 2) names the first bad one. Writes nothing."""
    from kimi_infra.stackfile import load_stack

    spec = load_stack(project_dir, stack).spec
    require_fleet(spec)
    place = _target_place(spec, target)
    gateway_id = gateway_id or socket.gethostname().split(".")[0]
    if not GATEWAY_ID.fullmatch(gateway_id):
        raise KimiInfraError(f"{gateway_id!r} is not a usable gateway id (letters, digits, `_.-`, at most 63)",
                             where="--gateway-id", fix="give --gateway-id NAME, e.g. the host's short name")
    check_interval(interval, spec)
    include = include.expanduser().absolute()
    check_includable(include)
    check_not_gateway_config(include)
    check_writable(include)
    if openclaw is not None:
        _check_command(openclaw)
    check_profile()
    return AgentSettings(spec, project_dir, place, include, gateway_id, socket.gethostname(), interval, openclaw)


def check_interval(interval: float, spec: StackSpec) -> None:
    """At least a second, at most the stack's heartbeat: the agent reports only when it polls, so a
    longer interval makes `fleet` call a healthy gateway stale (and `nan` would poll without pause,
    `inf` never again)."""
    heartbeat = spec.fleet.heartbeatSeconds if spec.fleet else DEFAULT_INTERVAL_S
    if 1 <= interval <= heartbeat:  # False for nan
        return
    raise KimiInfraError(f"{interval:g} s is not between 1 s and the stack's heartbeat ({heartbeat:g} s)",
                         where="--interval", fix=f"give --interval SECONDS from 1 to {heartbeat:g} (to poll less "
                                                 "often, raise `heartbeatSeconds` under `kimi-infra:fleet` first)")


def check_not_gateway_config(include: Path, env: dict[str, str] | None = None) -> None:
    """The include file is a file the gateway's config `$include`s, never that config itself: the
    agent replaces the whole file, so the gateway's own settings (port, auth, channels) would go."""
    config = gateway_config_path(env)
    if include.resolve() != config.absolute().resolve():
        return
    raise KimiInfraError("is the gateway's own config file, which the agent would replace as a whole",
                         where=f"--include {include}",
                         fix="give a file next to it, e.g. kimi-models.json5, and `$include` that from openclaw.json")


def _target_place(spec: StackSpec, name: str) -> Place:
    found = next((target for target in spec.targets if target.name == name), None)
    if found is None:
        known = ", ".join(t.name for t in spec.targets)
        raise KimiInfraError(f"stack {spec.stack} has no target named {name!r}", where="--target",
                             fix=f"use one of: {known}")
    place = place_for(found)
    if place is None:
        raise KimiInfraError(f"target {name} is a {found.kind} target, which only its own host can read",
                             where="--target", fix="give an s3 or ssm target of the stack")
    return place


def gateway_config_path(env: dict[str, str] | None = None) -> Path:
    """The gateway's config file as OpenClaw finds it: OPENCLAW_CONFIG_PATH, else
    OPENCLAW_STATE_DIR/openclaw.json, else ~/.openclaw/openclaw.json."""
    env = dict(os.environ) if env is None else env
    if env.get("OPENCLAW_CONFIG_PATH"):
        return Path(env["OPENCLAW_CONFIG_PATH"]).expanduser()
    state = env.get("OPENCLAW_STATE_DIR")
    return (Path(state).expanduser() if state else Path.home() / ".openclaw") / "openclaw.json"


def include_roots(env: dict[str, str] | None = None) -> list[Path]:
    """Where OpenClaw lets `$include` reach: the config's folder and OPENCLAW_INCLUDE_ROOTS
    (a `:`-separated list, as OpenClaw reads it)."""
    env = dict(os.environ) if env is None else env
    roots = [gateway_config_path(env).absolute().parent]
    for entry in env.get("OPENCLAW_INCLUDE_ROOTS", "").split(os.pathsep):
        if entry.strip():
            roots.append(Path(entry.strip()).expanduser().absolute())
    return roots


def check_includable(include: Path, env: dict[str, str] | None = None) -> None:
    """The gateway can `$include` the file only from under its config's folder or an include root."""
    roots = include_roots(env)
    resolved = include.resolve()
    if any(resolved.is_relative_to(root.resolve()) for root in roots):
        return
    raise KimiInfraError(f"{include} is outside the folders the gateway may include from "
                         f"({', '.join(str(r) for r in roots)})", where="--include",
                         fix="put it next to the gateway's openclaw.json (OPENCLAW_CONFIG_PATH), or add its folder "
                             "to OPENCLAW_INCLUDE_ROOTS for both the gateway and the agent")


def check_writable(path: Path) -> None:
    """This user can replace `path` atomically (a temp file in its folder, then a rename)."""
    where = f"--include {path}"
    if path.exists() and not path.is_file():
        raise KimiInfraError("is not a regular file", where=where, fix="give the path of a file")
    folder = path.parent
    if not folder.is_dir():
        raise KimiInfraError(f"its folder {folder} does not exist", where=where, fix="create the folder first")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise KimiInfraError("not writable by this user (the agent writes a temp file beside it and renames it)",
                             where=where, fix="run the agent as the gateway's user, or fix the folder's permissions")


def _check_command(command: str) -> None:
    from shutil import which

    if which(command) is None:
        raise KimiInfraError(f"{command} not found or not executable", where="--openclaw",
                             fix="give the path of the gateway's `openclaw` command")


# --- one poll -------------------------------------------------------------------------------------


def start_state(settings: AgentSettings) -> AgentState:
    """What is applied already: the include file's hash and the key versions of our last report."""
    state = AgentState()
    report = settings.place.read_report(settings.gateway_id)
    _read_include(settings, state)
    if state.applied_revision is not None and report and report.get("configRevision") == state.applied_revision:
        versions = report.get("keyVersions")
        state.key_versions = dict(versions) if isinstance(versions, dict) else {}
        state.applied_at = report.get("appliedAt") if isinstance(report.get("appliedAt"), str) else None
    return state


def poll_once(settings: AgentSettings, state: AgentState, say: Say) -> bool:
    """One poll: apply a new config or key version if there is one, report when something changed
    or a heartbeat is due. Returns whether the gateway now runs what the stack publishes."""
    error_before = state.last_error
    try:
        changed = _apply(settings, state, say)
        state.last_error = None
        state.failures = 0
    except (KimiInfraError, OSError) as error:
        changed = False
        state.last_error = str(error)
        if error is not state.refused:  # a standing refusal of foreign facts reads nothing: no backoff
            state.failures += 1
        if state.last_error != error_before:
            say(f"agent {settings.gateway_id}: {state.last_error}")
    reported = True
    if changed or state.last_error != error_before or _heartbeat_due(settings, state):
        reported = _report(settings, state, say)
    return state.last_error is None and state.reload_pending is None and reported


def _read_include(settings: AgentSettings, state: AgentState) -> None:
    """What the include file holds now (its hash, or None when it is missing)."""
    state.include_seen = _file_signature(settings.include)
    state.applied_revision = None if state.include_seen is None else \
        _hasher(settings, state).of_bytes(settings.include.read_bytes())


def _file_signature(path: Path) -> tuple[int, int, int] | None:
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    return info.st_ino, info.st_size, info.st_mtime_ns


def _apply(settings: AgentSettings, state: AgentState, say: Say) -> bool:
    if _file_signature(settings.include) != state.include_seen:
        # Someone else changed or removed the include file since we wrote or read it: take what is
        # there now, and ask for the facts again, so the file is put right at this poll, not only
        # at the next deploy (one stat per poll).
        _read_include(settings, state)
        state.tag = None
    poll = settings.place.poll(state.tag)
    if not poll.changed and state.refused is not None:
        raise state.refused  # the refused facts still stand: keep saying so in every report
    if not poll.changed and state.reload_pending is None:
        return False
    state.refused = None
    changed = False
    if poll.changed and poll.facts is not None:
        facts = poll.facts
        if facts.stack != settings.spec.stack:
            state.tag = poll.tag  # refused for good: do not download it again until it changes
            state.refused = RefusedConfig(f"the published facts belong to stack {facts.stack}, not "
                                          f"{settings.spec.stack}", where=settings.place.location,
                                          fix="deploy this stack's config to this target")
            raise state.refused
        if facts.config_revision != state.applied_revision:
            _apply_config(settings, state, facts, say)
            changed = True
        state.tag = poll.tag
        if facts.key_versions != state.key_versions:
            if settings.spec.gateway_fetches_keys:  # the gateway's resolver reads them on a reload
                state.reload_pending = facts.key_versions
            else:  # inline: the keys came with the config; reference: the gateway's environment has them
                state.key_versions = dict(facts.key_versions)
                changed = True
    if state.reload_pending is not None:
        _reload(settings, state, say)
        changed = True
    return changed


def _apply_config(settings: AgentSettings, state: AgentState, facts: Facts, say: Say) -> None:
    """Read the config the facts name, check it, write it to the include file. A refused config
    leaves the poll's tag as it was: the next poll (after a backoff) reads facts and config again,
    so a config put right without new facts (e.g. a `deploy` undoing a tampered object) is taken."""
    from kimi_infra.atomic import write_atomic
    from kimi_infra.masking import holds_key

    body = settings.place.read_config()
    where = settings.place.location
    if body is None:
        raise RefusedConfig("the facts name a config, but the target holds none", where=where,
                            fix="run `kimi-infra deploy` for the stack")
    secret = holds_key(body.text) or settings.spec.files_hold_keys
    # OpenClaw checks the complete temp file beside the include, before the rename: a kill -9
    # during its check leaves that temp where the next write removes it (never a copy in /tmp).
    check = partial(_openclaw_validate, settings) if settings.openclaw is not None else None
    _check_config(settings, state, facts, body.text, body.published_hash)
    write_atomic(settings.include, body.text.encode("utf-8"), INCLUDE_MODE_KEYS if secret else INCLUDE_MODE_PLAIN,
                 check=check)
    state.include_seen = _file_signature(settings.include)
    state.applied_revision = facts.config_revision
    state.applied_at = iso(now_utc())
    say(f"agent {settings.gateway_id}: applied config {facts.config_revision[:12]} from {where} to "
        f"{settings.include}")


def _check_config(settings: AgentSettings, state: AgentState, facts: Facts, text: str,
                  published_hash: str | None) -> None:
    """Our model, this stack's published revision, and OpenClaw's own check when we have its CLI."""
    from kimi_infra.validate import validate_text

    where = settings.place.location
    actual = _hasher(settings, state).of_text(text)
    if actual != facts.config_revision or (published_hash is not None and published_hash != facts.config_revision) \
            or (isinstance(settings.place, S3Place) and published_hash is None):
        raise RefusedConfig("the config there is not the one `deploy` published for this stack (its hash differs "
                            "from the published revision): refused, the last good config stays", where=where,
                            fix=f"run `kimi-infra deploy --stack {settings.spec.stack}` to publish it again")
    try:
        validate_text(text)
    except KimiInfraError as error:
        raise RefusedConfig(f"the config there fails our checks ({error}): refused, the last good config stays",
                            where=where, fix=f"run `kimi-infra deploy --stack {settings.spec.stack}`") from None


def _openclaw_validate(settings: AgentSettings, candidate: Path) -> None:
    """`openclaw config validate` on the complete candidate file; RefusedConfig when it says no."""
    from kimi_infra.ops.validate_report import run_openclaw

    verdict = run_openclaw(Path(settings.openclaw or "openclaw"), candidate)
    if not verdict.valid:
        first = verdict.issues[0] if verdict.issues else "no detail"
        raise RefusedConfig(f"`openclaw config validate` rejects the config ({first}): refused, the last good "
                            "config stays", where=settings.place.location,
                            fix="fix the stack file (or upgrade OpenClaw) and deploy again")


def _reload(settings: AgentSettings, state: AgentState, say: Say) -> None:
    from kimi_infra.ops.reload import reload_gateway

    pending = state.reload_pending or {}
    # labelled "its gateway": poll_once puts the agent's own prefix before a failure
    reload_gateway(settings.openclaw or "openclaw", "its gateway", _prefixed(settings, say), advice=None)
    state.key_versions = dict(pending)
    state.reload_pending = None
    state.failures = 0
    state.applied_at = iso(now_utc())


def _prefixed(settings: AgentSettings, say: Say) -> Say:
    """`say` with the agent's prefix, as every line of the agent starts."""
    return lambda line: say(f"agent {settings.gateway_id}: {line}")


def _hasher(settings: AgentSettings, state: AgentState) -> ContentHasher:
    """Plain sha256, or in inline mode the stack's keyed hash (its salt is read once, on first use)."""
    if state.hasher is None:
        from kimi_infra.deploy import content_hasher

        state.hasher = content_hasher(settings.spec, settings.project_dir) if settings.spec.files_hold_keys else PLAIN
    return state.hasher


def _heartbeat_due(settings: AgentSettings, state: AgentState) -> bool:
    return state.last_report is None or time.monotonic() - state.last_report >= settings.heartbeat


def report_of(settings: AgentSettings, state: AgentState) -> dict[str, Any]:
    """What this gateway runs; ids and hashes only, never a key."""
    return {"gatewayId": settings.gateway_id, "host": settings.host, "stack": settings.spec.stack,
            "target": settings.place.target, "configRevision": state.applied_revision,
            "keyVersions": state.key_versions, "appliedAt": state.applied_at, "reportedAt": iso(now_utc()),
            "lastError": state.last_error, "agentVersion": __version__}


def _report(settings: AgentSettings, state: AgentState, say: Say) -> bool:
    """Write this gateway's report; False (and one line) when AWS refuses it: `fleet` cannot see
    this gateway then, so `--once` fails and the loop tries again at the next poll."""
    try:
        settings.place.write_report(settings.gateway_id, report_of(settings, state))
    except KimiInfraError as error:
        say(f"agent {settings.gateway_id}: cannot report: {error}")
        return False
    state.last_report = time.monotonic()
    return True


# --- the loop -------------------------------------------------------------------------------------


def backoff(failures: int, interval: float) -> float:
    """Seconds to the next try after `failures` failures in a row: the interval, doubled per failure
    from the second, at most MAX_BACKOFF_S (a store or gateway that is down is not hammered)."""
    if failures <= 1:
        return interval
    return min(interval * 2 ** (failures - 1), max(MAX_BACKOFF_S, interval))


JITTER = 0.2


def next_wait(ok: bool, failures: int, interval: float, draw: Callable[[], float] = random.random) -> float:
    """Seconds to the next poll: the interval (or the backoff after failures), give or take 20%.
    Without the spread, agents started together (a fleet reboot, a rollout) poll together for
    ever: 1,000 requests in the same second every interval, far past Parameter Store's 40 TPS
    although their average (33 per second at 30 s) is not. At most 1.2 intervals, and the
    interval is at most a heartbeat, so a report is never three heartbeats old."""
    base = interval if ok else backoff(failures, interval)
    return base * (1 - JITTER + 2 * JITTER * draw())


def run(settings: AgentSettings, say: Say, stop: threading.Event, once: bool = False) -> int:
    """Poll until `stop` is set (SIGTERM), or once. Exit code: 0 when the gateway runs what the
    stack publishes, 1 when the last poll left an error (refused config, failed reload, AWS)."""
    say(f"agent {settings.gateway_id}: stack {settings.spec.stack}, {settings.place.location} -> "
        f"{settings.include}, every {settings.interval:g} s")
    try:
        state = start_state(settings)
    except KimiInfraError as error:  # e.g. AWS unreachable: the first poll tries again and reports it
        say(f"agent {settings.gateway_id}: {error}")
        state = AgentState()
    while True:
        ok = poll_once(settings, state, say)
        if once:
            return 0 if ok else 1
        if stop.wait(next_wait(ok, state.failures, settings.interval)):
            say(f"agent {settings.gateway_id}: stopped")
            return 0
