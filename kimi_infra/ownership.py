"""Ownership: kimi-infra removes or first overwrites a deployed config only where it is its own.

`deploy --prune`, the engine's delete, and the delete after a replace (a target whose location
changed) all ask `keep_reason` first. A location is removed only if
1. it passes the path rules (`kimi_infra.path_rules.check_distinct_paths`: never a stack file, a
   store file or its locks, the record, a history log, another stack's state folder);
2. no stack of the project names it now (another stack may have deployed there since); and
3. its live content is what kimi-infra last wrote there (the deploy record's hash, or the
   engine's stored one), hashed as that hash was taken.
The first two are facts about the location that no confirmation changes (`Keep.final`); so is
content that is not a config of this stack at all (its first line is not the stack's render
header). A config of the stack edited since is a judgement the user may override
(`deploy --prune --yes`).

`foreign_reason` is the same question before a first write: a target that exists, holds other
content than the render and that kimi-infra never wrote (a hand-kept `openclaw.json`) is not
overwritten without a confirmation.

Imports neither pulumi nor boto3 (targets that need boto3 are opened lazily by the caller).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kimi_infra.content_hash import PLAIN, ContentHasher
from kimi_infra.errors import KimiInfraError
from kimi_infra.render import header_for

if TYPE_CHECKING:
    from kimi_infra.models import StackSpec, TargetSpec
    from kimi_infra.render import Rendered
    from kimi_infra.targets import Target


_RULE_SOURCE = "record: kimi-infra:targets[0].path: "  # how check_distinct_paths names the one target checked


@dataclass(frozen=True)
class Written:
    """What kimi-infra last wrote at a location: the content hash (None: unknown) and its algorithm."""

    content_hash: str | None
    algorithm: str


@dataclass(frozen=True)
class Keep:
    """Why a location is kept. `final`: the location is not ours at all (path rule, another
    stack's target), so no confirmation removes it."""

    reason: str
    final: bool


def keep_reason(spec: StackSpec, target_spec: TargetSpec, target: Target, project_dir: Path,
                written: Sequence[Written], keyed: Callable[[], ContentHasher]) -> Keep | None:
    """Why `target` (of `spec`'s stack, described by `target_spec`) must not be removed, or None
    when it is kimi-infra's own to remove (or already gone): it holds one of the `written`
    contents. `keyed`: the stack's salted hasher, called only for a content hashed with it."""
    broken = _path_rule(spec, target_spec, project_dir)
    if broken:
        return Keep(broken, final=True)
    owner = named_by(project_dir, target, exclude=(spec.stack, target_spec.name))
    if owner:
        return Keep(f"{owner} names it now", final=True)
    text = target.read_text()
    if text is None:
        return None
    known = [w for w in written if w.content_hash is not None]
    if any(hash_as_written(text, w.algorithm, keyed) == w.content_hash for w in known):
        return None
    if not text.startswith(f"// {header_for(spec.stack)}\n"):  # not even a config of this stack: never ours
        return Keep(f"it holds content kimi-infra did not write there (no stack {spec.stack} header)", final=True)
    if not known:
        return Keep("kimi-infra has no hash of what it wrote there", final=False)
    return Keep("it holds content kimi-infra did not write there (edited since)", final=False)


def hash_as_written(text: str, algorithm: str, keyed: Callable[[], ContentHasher]) -> str:
    """`text`'s hash taken as a hash of `algorithm` was: plain sha256 (not PLAIN.of_text, which
    withholds the hash of a text with keys) or the stack's HMAC. It only compares; never shown."""
    if algorithm == PLAIN.algorithm:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()
    return keyed().of_text(text)


def _path_rule(spec: StackSpec, target_spec: TargetSpec, project_dir: Path) -> str | None:
    """The path rule a file location breaks (one clause), or None."""
    from kimi_infra.path_rules import check_distinct_paths

    if target_spec.kind != "file":
        return None
    try:
        check_distinct_paths(project_dir, spec.model_copy(update={"targets": [target_spec]}), "record")
    except KimiInfraError as error:
        return "it breaks the path rules: " + str(error).split("; fix:", 1)[0].removeprefix(_RULE_SOURCE)
    return None


def named_by(project_dir: Path, target: Target, exclude: tuple[str, str] | None = None) -> str | None:
    """Which stack's target (as `stack <s> (target <t>)`) now names `target`'s location, by real
    path for files; `exclude`: (stack, target name) of the resource itself when it is still named
    at exactly this location (`pulumi destroy`). A stack file that does not load names nothing."""
    from kimi_infra.stackfile import list_stacks, load_stack
    from kimi_infra.targets import open_target

    for stack in list_stacks(project_dir):
        try:
            spec = load_stack(project_dir, stack).spec
        except KimiInfraError:
            continue
        for other in spec.targets:
            try:
                location = open_target(other, project_dir).location
            except KimiInfraError:
                continue
            if (stack, other.name) == exclude and location == target.location:
                continue
            if _same_place(location, target.location, other.kind == "file"):
                return f"stack {stack} (target {other.name})"
    return None


def _same_place(one: str, two: str, is_file: bool) -> bool:
    if one == two:
        return True
    if not is_file or not Path(two).is_absolute():
        return False
    first, second = Path(os.path.realpath(one)), Path(os.path.realpath(two))
    if first == second:
        return True
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False


def foreign_reason(spec: StackSpec, target: Target, project_dir: Path, rendered: Rendered,
                   keyed: Callable[[], ContentHasher]) -> str | None:
    """Why a first write of `rendered` to `target` would overwrite content kimi-infra never wrote
    there, or None: nothing there, the same content, or content that the stack's deploy record
    (or, for a file, its history log) says kimi-infra wrote."""
    from kimi_infra.deploy_record import read_record
    from kimi_infra.targets import LocalFileTarget

    deployed = target.read()
    if deployed is None or deployed.content_hash == rendered.content_hash:
        return None
    if isinstance(target, LocalFileTarget) and deployed.revision is not None:
        return None  # the file holds what its history log says kimi-infra last wrote
    entry = read_record(project_dir, spec.stack).get(target.location)
    text = target.read_text()
    if entry and text is not None and hash_as_written(text, entry.hashAlgorithm, keyed) == entry.contentHash:
        return None
    return "it holds content kimi-infra never wrote there"
