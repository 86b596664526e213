"""A config file on this host, written crash-safely, with an optional JSON-lines history."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from kimi_infra.atomic import sweep_stale_temps, write_atomic
from kimi_infra.content_hash import PLAIN, ContentHasher
from kimi_infra.render import Rendered
from kimi_infra.targets.base import (
    Deployed,
    Revision,
    RevisionText,
    TargetError,
    WriteOutcome,
    failure,
    is_current,
    log_outcome,
)

SECRET_MODE = 0o600
PUBLIC_MODE = 0o644


@dataclass(frozen=True)
class LocalFileTarget:
    """A file at `path`. With `history_path`, each real write appends
    `{"revision", "contentHash", "time"}` there; revisions count 1, 2, 3, ..."""

    name: str
    path: Path
    history_path: Path | None = None
    hasher: ContentHasher = PLAIN

    @property
    def location(self) -> str:
        return str(self.path)

    def read(self) -> Deployed | None:
        """The file's hash, mtime and protection; the revision is the last recorded one when the
        file still holds what we recorded (None after an edit behind our back)."""
        sweep_stale_temps(self.path)  # a killed write's temp may hold a key: gone even if nothing is written
        try:
            data = self.path.read_bytes()
            status = self.path.stat()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise _os_failure(self.location, "read", error) from None
        content_hash = self.hasher.of_bytes(data)
        last = self._last_record()
        return Deployed(
            content_hash=content_hash,
            revision=last.revision if last and last.content_hash == content_hash else None,
            modified=datetime.fromtimestamp(status.st_mtime, UTC),
            protected=stat.S_IMODE(status.st_mode) & 0o077 == 0,
        )

    def read_text(self) -> str | None:
        """The file's text, or None when there is no file."""
        sweep_stale_temps(self.path)
        try:
            return self.path.read_bytes().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return None
        except OSError as error:
            raise _os_failure(self.location, "read", error) from None

    def write(self, rendered: Rendered) -> WriteOutcome:
        """Write temp + fsync + rename (0600 for a secret, else 0644); no write when the file
        already holds these bytes. Same bytes that now need protection: chmod, no rewrite.
        On failure the previous file stays as it was and no temp file is left."""
        deployed = self.read()
        if is_current(deployed, rendered):
            log_outcome(self.location, "unchanged", rendered)
            return "unchanged"
        if deployed is not None and deployed.content_hash == rendered.content_hash:
            self._protect()
        else:
            self._replace(rendered)
            self._record(rendered.content_hash)
        log_outcome(self.location, "written", rendered)
        return "written"

    def delete(self) -> bool:
        """Remove the file (its history file stays: it is the record of what was deployed)."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        except OSError as error:
            raise _os_failure(self.location, "delete", error) from None
        return True

    def history(self) -> list[Revision]:
        """Recorded writes, newest first; empty when no history file is kept."""
        sweep_stale_temps(self.path)  # `history` touches the target too
        return list(reversed(self._records()))

    def revision_text(self, revision: str) -> RevisionText | None:
        """None: the history file records hashes only (the content may hold a key), so only the
        current revision can be read back, with the hash its history record holds."""
        last = self._last_record()
        text = self.read_text() if last and last.revision == revision else None
        return RevisionText(text, last.content_hash) if text is not None and last else None

    def _replace(self, rendered: Rendered) -> None:
        mode = SECRET_MODE if rendered.holds_secret else PUBLIC_MODE
        try:
            write_atomic(self.path, rendered.text.encode("utf-8"), mode)
        except OSError as error:
            raise _os_failure(self.location, "write", error) from None

    def _protect(self) -> None:
        try:
            os.chmod(self.path, SECRET_MODE)
        except OSError as error:
            raise _os_failure(self.location, "chmod 0600", error) from None

    def _record(self, content_hash: str) -> None:
        if self.history_path is None:
            return
        entry = {"revision": str(len(self._records()) + 1), "contentHash": content_hash,
                 "time": datetime.now(UTC).isoformat()}
        try:
            self.history_path.parent.mkdir(parents=True, exist_ok=True)
            with self.history_path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as error:
            raise _os_failure(str(self.history_path), "append to", error) from None

    def _last_record(self) -> Revision | None:
        records = self._records()
        return records[-1] if records else None

    def _records(self) -> list[Revision]:
        """History entries, oldest first (file order)."""
        if self.history_path is None:
            return []
        try:
            lines = self.history_path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        except OSError as error:
            raise _os_failure(str(self.history_path), "read", error) from None
        keyed = self.hasher.salt is not None
        return [_parse_record(self.history_path, number, line, keyed) for number, line in enumerate(lines, 1) if line]


def _parse_record(path: Path, number: int, line: str, keyed: bool) -> Revision:
    """One line of the log. `keyed`: the stack's configs hold keys, so a record kimi-infra 0.2.0
    wrote (field "sha256", a bare sha256 of what was then deployed) is not shown: None, unknown."""
    try:
        entry = json.loads(line)
        legacy = "contentHash" not in entry
        content_hash = entry["sha256"] if legacy else entry["contentHash"]
        return Revision(revision=str(entry["revision"]), content_hash=None if legacy and keyed else content_hash,
                        time=datetime.fromisoformat(entry["time"]))
    except (ValueError, TypeError, KeyError):
        raise failure(str(path), "read", f"line {number} is not a history record",
                      "repair or delete that line") from None


def _os_failure(location: str, action: str, error: OSError) -> TargetError:
    if isinstance(error, PermissionError):
        return failure(location, action, "permission denied",
                       "let this user write the folder, or choose another `path` in the stack file")
    if isinstance(error, IsADirectoryError):
        return failure(location, action, "it is a folder", "point `path` in the stack file at a file")
    return failure(location, action, error.strerror or type(error).__name__,
                   "check the path and the free disk space, then run again")
