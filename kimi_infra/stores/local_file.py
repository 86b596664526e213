"""The dev secret store: Secrets Manager's stages in one 0600 JSON file per stack.

The file holds every provider's secret of the stack, keyed by secret name:

    {"format": 1, "salt": "<hex>", "secrets": {"kimi-infra/dev/moonshot": {"versions": {
        "<version id>": {"stages": ["current"], "created": "<ISO 8601>", "value": "<key>"}}}}}

`salt` (random, added by the first rotation) keys the hash that names a rotation's version.

Writes lock a sibling `.lock` file (fcntl.flock), read, change, and replace the file atomically,
so two processes never lose each other's update and a reader never sees half a file. Unlike AWS,
a version that loses its last stage is deleted at once, so no old key lingers in the file.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kimi_infra.atomic import sweep_stale_temps, write_atomic
from kimi_infra.secret import Secret
from kimi_infra.stores import base
from kimi_infra.stores.base import (
    ConcurrentRotationError,
    EnsureResult,
    SecretDescription,
    SecretNotFoundError,
    SecretVersion,
    Stage,
    StoreError,
)

FORMAT = 1
FILE_MODE = 0o600
ROTATION_WAIT_SECONDS = 300.0  # how long a rotation waits for another one to finish before refusing

Versions = dict[str, dict[str, Any]]  # version id -> {"stages", "created", "value"}


class LocalFileStore:
    """One secret in the stack's local store file. Holds only plain data, so it pickles."""

    def __init__(self, path: Path | str, name: str) -> None:
        self.path = Path(path)
        self.name = name

    def __repr__(self) -> str:
        return f"LocalFileStore({self.name!r}, path={str(self.path)!r})"

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    @property
    def rotation_lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".rotation.lock")

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """One rotation of this store file at a time: a second one waits, then runs on the state
        the first left (so current and previous end up the two new keys)."""
        lock = self._open_lock(self.rotation_lock_path)
        try:
            _wait_for_lock(lock, self.name)
            yield
        finally:
            os.close(lock)

    # --- the SecretStore protocol -----------------------------------------------------------

    def exists(self) -> bool:
        return self.name in self._load()["secrets"]

    def ensure(self, value: Secret) -> EnsureResult:
        """Create the secret, or add `value` as the new current version if it differs."""
        base.validate_value(self.name, value)
        with self._update() as secrets:
            entry = secrets.get(self.name)
            if entry is None:
                version_id = str(uuid.uuid4())
                secrets[self.name] = {"versions": {version_id: _new_version(value, ["current"])}}
                return EnsureResult("created", version_id, None)
            versions = entry["versions"]
            current = _holder(versions, "current")
            if current is not None and Secret(versions[current]["value"]) == value:
                return EnsureResult("unchanged", current, None)
            version_id = str(uuid.uuid4())
            versions[version_id] = _new_version(value, [])
            _make_current(versions, version_id)
            return EnsureResult("updated", version_id, None)

    def get(self, stage: Stage = "current") -> Secret | None:
        """The value in `stage`; None when no version holds it; StoreError if no secret."""
        versions = self._versions(self._load()["secrets"])
        holder = _holder(versions, stage)
        return None if holder is None else Secret(versions[holder]["value"])

    def stage_pending(self, value: Secret, token: str) -> str:
        """Store `value` as pending version `token`; a retry is a no-op."""
        base.validate_pending(self.name, value, token)
        with self._update() as secrets:
            versions = self._versions(secrets)
            if token not in versions:
                versions[token] = _new_version(value, [])
            elif Secret(versions[token]["value"]) != value:
                raise StoreError(f"token {token} was already used with a different key", where=self.name,
                                 fix="use a new token for a new key")
            if not {"pending", "current"} & set(versions[token]["stages"]):
                _move(versions, "pending", token)
                _prune(versions)  # an older pending version goes
        return token

    def promote(self, token: str, expected_current: str | None = None) -> None:
        """Make pending version `token` current (old current becomes previous); no-op if done.
        With `expected_current`: refused if another version became current meanwhile."""
        base.validate_token(self.name, token)
        with self._update() as secrets:
            versions = self._versions(secrets)
            stages = versions.get(token, {}).get("stages")
            if stages is None:
                raise StoreError(f"no version {token} to promote", where=self.name, fix="stage the new key first")
            if "current" not in stages:
                if "pending" not in stages:
                    raise StoreError(f"version {token} is not pending", where=self.name, fix="stage it again")
                current = _holder(versions, "current")
                if expected_current is not None and current != expected_current:
                    raise base.moved_meanwhile(self.name, expected_current, current)
                _make_current(versions, token)
            if "pending" in stages:
                stages.remove("pending")

    def discard_pending(self, token: str | None = None) -> None:
        """Remove the pending stage; the version goes with it unless it holds another stage.
        With `token`, only that version's pending stage."""
        with self._update() as secrets:
            versions = self._versions(secrets)
            pending = _holder(versions, "pending")
            if pending is not None and token in (None, pending):
                versions[pending]["stages"].remove("pending")
                _prune(versions)

    def rollback(self, expected_current: str | None = None) -> str:
        """Make previous current again (current becomes previous)."""
        with self._update() as secrets:
            versions = self._versions(secrets)
            current, previous = _holder(versions, "current"), _holder(versions, "previous")
            version, move = base.rollback_step(self.name, current, previous, expected_current)
            if move:
                _make_current(versions, version)
            return version

    def token_salt(self) -> bytes:
        """The file's salt (one for every secret in it), added on first use."""
        salt = self.read_salt()
        if salt is None:
            with self._update_document() as document:
                salt = bytes.fromhex(document.setdefault("salt", base.new_salt()))
        return salt

    def read_salt(self) -> bytes | None:
        """The file's salt, or None while it has none (or there is no file); writes nothing."""
        salt = self._load().get("salt")
        return bytes.fromhex(salt) if isinstance(salt, str) else None

    def describe(self) -> SecretDescription:
        """Versions with stages and dates; never a value."""
        return self._description(self._versions(self._load()["secrets"]))

    def describe_if_exists(self) -> SecretDescription | None:
        """`describe()` if the secret exists, else None, in one read of the file."""
        entry = self._load()["secrets"].get(self.name)
        return None if entry is None else self._description(entry["versions"])

    def _description(self, versions: Versions) -> SecretDescription:
        listed = tuple(
            SecretVersion(version_id, tuple(version["stages"]), datetime.fromisoformat(version["created"]))
            for version_id, version in versions.items()
        )
        return SecretDescription(self.name, None, listed)

    def delete(self) -> None:
        """Remove this secret from the file; other providers' secrets stay. No-op if absent."""
        if not self.exists():
            return  # no lock file or folder for nothing
        with self._update() as secrets:
            secrets.pop(self.name, None)

    # --- the file -----------------------------------------------------------------------------

    def _versions(self, secrets: dict[str, Any]) -> Versions:
        entry = secrets.get(self.name)
        if entry is None:
            raise SecretNotFoundError(f"not found in {self.path}", where=self.name, fix="run `pulumi up` to create it")
        return entry["versions"]

    def _load(self) -> dict[str, Any]:
        """The whole document; no lock needed, as the file is only ever replaced whole."""
        sweep_stale_temps(self.path)  # a killed write's temp holds keys: gone at the next read too
        try:
            text = self.path.read_bytes()
        except FileNotFoundError:
            return {"format": FORMAT, "secrets": {}}
        except OSError as error:
            raise StoreError(f"cannot read {self.path}: {error.strerror}", where=self.name) from None
        try:
            document = json.loads(text)
        except (UnicodeDecodeError, json.JSONDecodeError):
            document = None  # the parser's message may quote the file, which holds keys
        if not isinstance(document, dict) or document.get("format") != FORMAT \
                or not isinstance(document.get("secrets"), dict):
            raise StoreError(f"{self.path} is not a kimi-infra store file (format {FORMAT})", where=self.name,
                             fix="restore it from a backup or remove it and run `pulumi up`")
        return document

    @contextmanager
    def _update(self) -> Iterator[dict[str, Any]]:
        """Lock, load, let the caller change `secrets`, then write the file only if it changed."""
        with self._update_document() as document:
            yield document["secrets"]

    @contextmanager
    def _update_document(self) -> Iterator[dict[str, Any]]:
        lock = self._open_lock(self.lock_path)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            document = self._load()
            before = _dump(document)
            yield document
            after = _dump(document)
            if after != before:
                self._write(after)
        finally:
            os.close(lock)  # closing releases the lock

    def _open_lock(self, path: Path) -> int:
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            return os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        except OSError as error:
            raise StoreError(f"cannot lock {path}: {error.strerror}", where=self.name) from None

    def _write(self, data: bytes) -> None:
        try:
            write_atomic(self.path, data, FILE_MODE)
        except OSError as error:
            raise StoreError(f"cannot write {self.path}: {error.strerror}", where=self.name) from None


def _wait_for_lock(lock: int, name: str) -> None:
    """Take the rotation lock, waiting up to ROTATION_WAIT_SECONDS for the holder to finish."""
    deadline = time.monotonic() + ROTATION_WAIT_SECONDS
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise ConcurrentRotationError(
                    f"another rotation has held this store for {ROTATION_WAIT_SECONDS:.0f} s", where=name,
                    fix="wait for it to finish (or stop it), then run with --resume") from None
            time.sleep(0.05)


def _dump(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _new_version(value: Secret, stages: list[Stage]) -> dict[str, Any]:
    return {"stages": stages, "created": datetime.now(UTC).isoformat(), "value": value.reveal()}


def _holder(versions: Versions, stage: Stage) -> str | None:
    return next((version_id for version_id, version in versions.items() if stage in version["stages"]), None)


def _move(versions: Versions, stage: Stage, version_id: str) -> None:
    """Put `stage` on `version_id` alone, as Secrets Manager's labels are unique; no pruning,
    since a version may be between stages (as in a rollback)."""
    for version in versions.values():
        if stage in version["stages"]:
            version["stages"].remove(stage)
    versions[version_id]["stages"].append(stage)


def _make_current(versions: Versions, version_id: str) -> None:
    """Make `version_id` current; the old current becomes previous, as AWS does."""
    current = _holder(versions, "current")
    if current is not None and current != version_id:
        _move(versions, "previous", current)
    _move(versions, "current", version_id)
    if "previous" in versions[version_id]["stages"]:
        versions[version_id]["stages"].remove("previous")  # a rollback: it is current now
    _prune(versions)


def _prune(versions: Versions) -> None:
    """Delete versions without a stage, so their keys leave the file."""
    for version_id in [v for v, version in versions.items() if not version["stages"]]:
        del versions[version_id]
