"""The rule that keeps kimi-infra's own files out of harm's way: a file target or `render --out`
must never resolve (through symlinks or hard links) to a stack file, a store file or its locks,
another target's file, or anything kimi-infra keeps in the state folder. The one place in the
state folder a target may live is its own stack's folder, beside the dev store (where the dev
stack's file target lives), under a name kimi-infra does not use.

Above `stackfile` in the core (it loads every stack of the project), while `paths` stays below
`models` and `stackfile`.
"""

from __future__ import annotations

import os
from pathlib import Path

from kimi_infra.errors import KimiInfraError
from kimi_infra.models import LocalStoreSpec, StackSpec, local_store_default_path
from kimi_infra.paths import DEPLOY_RECORD, HISTORY_DIR, STATE_DIR, STORE_SUFFIXES, project_path, real_path
from kimi_infra.stackfile import list_stacks, load_stack


def store_files(project_dir: Path, spec: StackSpec) -> list[Path]:
    """The stack's local store file and its lock files (none for a cloud store)."""
    if not isinstance(spec.secretStore, LocalStoreSpec):
        return []
    store = project_path(project_dir, spec.secretStore.path or local_store_default_path(spec.stack))
    return [store.with_name(store.name + suffix) for suffix in STORE_SUFFIXES]


def check_distinct_paths(project_dir: Path, spec: StackSpec, source: str, out: Path | None = None) -> None:
    """Refuse, before anything is written, a file target (or `out`) that is kimi-infra's own file
    or another target's file; KimiInfraError names the field and the fix."""
    kept = _kept_files(project_dir, spec)
    seen: dict[Path, str] = {}
    for index, target in enumerate(spec.targets):
        if target.kind != "file":
            continue
        field = f"kimi-infra:targets[{index}].path"
        try:
            real = real_path(project_path(project_dir, target.path))
        except KimiInfraError as error:
            raise KimiInfraError(f"{error.where}: {error.problem}" if error.where else error.problem,
                                 where=f"{source}: {field}", fix=error.fix) from None
        _refuse_clash(source, field, real, kept, project_dir, spec.stack)
        if _same_file(real, seen):
            raise KimiInfraError(f"target {target.name!r} is the same file as target {_same_file(real, seen)!r}",
                                 where=f"{source}: {field}", fix="give each file target its own path")
        nesting = next((name for path, name in seen.items() if path in real.parents or real in path.parents), None)
        if nesting:  # the first write would make the other path impossible (a file where a folder must be)
            raise KimiInfraError(f"target {target.name!r} and target {nesting!r} are one inside the other's path",
                                 where=f"{source}: {field}",
                                 fix="give each file target a path of its own, not under another")
        seen[real] = target.name
    if out is not None:
        real = real_path(out)
        _refuse_clash("--out", str(out), real, kept, project_dir, spec.stack)
        if _same_file(real, seen):
            raise KimiInfraError(f"is the file of target {_same_file(real, seen)!r}, which `deploy` writes",
                                 where=f"--out {out}", fix="render to another path (or - for stdout)")


def _kept_files(project_dir: Path, spec: StackSpec) -> dict[Path, str]:
    """kimi-infra's own files, by real path: what each is, for the error line."""
    kept = {real_path(path): f"the stack file {path.name}" for path in (project_dir / "stacks").glob("Pulumi.*.yaml")}
    kept[real_path(project_dir / "Pulumi.yaml")] = "the project file Pulumi.yaml"
    stores = _every_store_file(project_dir, spec)
    kept.update({real_path(path): f"the secret store file {path.name}" for path in stores})
    return kept


def _every_store_file(project_dir: Path, spec: StackSpec) -> list[Path]:
    """The local store files of this stack and of every other stack of the project: a store kept
    outside the state folder (`secretStore.path`) must not be some other stack's file target."""
    files = store_files(project_dir, spec)
    for name in list_stacks(project_dir):
        if name == spec.stack:
            continue
        try:
            files += store_files(project_dir, load_stack(project_dir, name).spec)
        except KimiInfraError:
            continue  # a stack file that does not load names no store we could keep apart
    return files


def _refuse_clash(source: str, field: str, real: Path, kept: dict[Path, str], project_dir: Path,
                  stack: str) -> None:
    what = _same_file(real, kept) or _state_file(real, real_path(project_dir / STATE_DIR), stack)
    if what:
        raise KimiInfraError(f"resolves to {what}, which kimi-infra keeps", where=f"{source}: {field}",
                             fix="point it at a file of its own (never a stack, store or history file, "
                             f"nor anywhere in {STATE_DIR}/ but a new file in {STATE_DIR}/{stack}/)")


def _same_file(real: Path, known: dict[Path, str]) -> str | None:
    """What `known` calls `real`, by path or (for existing files) by inode: a hard link counts."""
    if real in known:
        return known[real]
    try:
        inode = real.stat()
    except OSError:
        return None
    for path, what in known.items():
        try:
            if os.path.samestat(inode, path.stat()):
                return what
        except OSError:
            continue
    return None


def _state_file(real: Path, state_root: Path, stack: str) -> str | None:
    """What `real` is when it lies in the state folder and is not a new file of `stack`'s own folder."""
    if not real.is_relative_to(state_root):
        return None
    parts = real.relative_to(state_root).parts
    name = parts[-1].lstrip(".") if parts else ""  # temp files are `.<name>.<random>.tmp`
    if name.startswith("secrets.json"):
        return "a secret store file of the state folder"
    if name.startswith(DEPLOY_RECORD):
        return "the deploy record of the state folder"
    if parts[1:-1] and parts[1] == HISTORY_DIR:  # the stack folder is parts[0], whatever its name
        return "a history log of the state folder"
    if parts[1:] == (HISTORY_DIR,):  # a file there would keep the folder from being made
        return "the history folder of the state folder"
    if len(parts) != 2 or parts[0] != stack:
        return f"a path of the state folder other than a file directly in {STATE_DIR}/{stack}/"
    return None
