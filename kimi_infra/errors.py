"""Errors that the CLI prints as one line (`where: problem; fix: fix`) and turns into an exit code."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:  # pydantic is imported by whoever validates, not by this module
    from pydantic import ValidationError
    from pydantic_core import ErrorDetails

T = TypeVar("T")

EXIT_FINDING = 1
"""The command worked and found something: a difference, drift, an invalid file."""
EXIT_ERROR = 2
"""The command could not do its job (bad input, AWS or provider failure); click uses 2 for usage errors too."""


class KimiInfraError(Exception):
    """A failure the user can act on; its text is one line and never holds a secret value.

    `where` names the file, option or object, `problem` says what is wrong, `fix` what to do.
    `exit_code` is what the command exits with (the CLI group handles it in one place): 2 for an
    error (as click does for usage errors), 1 only for a finding the command reports (a
    difference, drift, an invalid file); an error with no problem text exits silently (the
    command has already said why, e.g. `validate`).
    """

    def __init__(self, problem: str = "", *, where: str | None = None, fix: str | None = None,
                 exit_code: int = EXIT_ERROR) -> None:
        self.where = where
        self.problem = problem
        self.fix = fix
        self.exit_code = exit_code
        super().__init__(problem)

    def __str__(self) -> str:
        text = f"{self.where}: {self.problem}" if self.where else self.problem
        return f"{text}; fix: {self.fix}" if self.fix else text

    def to_json(self) -> dict[str, str | None]:
        """The `error` member of a --json document: the three parts, each in its own field."""
        return {"where": self.where, "problem": self.problem, "fix": self.fix}

    @classmethod
    def exit(cls, code: int) -> KimiInfraError:
        """A silent exit with `code`: the command printed its own report."""
        return cls(exit_code=code)

    def with_exit_code(self, code: int) -> KimiInfraError:
        """This error, exiting with `code` instead."""
        self.exit_code = code
        return self


class SpecError(KimiInfraError):
    """Bad input in one field. The core raises it without a file; the boundary that read the
    file (stack-file loader, CLI, program) adds it with `in_file`."""

    def __init__(self, field: str, problem: str, fix: str, *, file: str | None = None) -> None:
        self.field = field  # for callers that act on which field failed (tests, tools)
        self.file = file
        super().__init__(problem, where=f"{file}: {field}" if file else field, fix=fix)

    def in_file(self, file: str) -> SpecError:
        """This error located in `file` (kept if a file is already named)."""
        if self.file is not None:
            return self
        return SpecError(self.field, self.problem, self.fix or "", file=file)


@contextmanager
def in_file(file: str) -> Iterator[None]:
    """Name `file` in every SpecError raised inside the block."""
    try:
        yield
    except SpecError as error:
        raise error.in_file(file) from None


MAX_FILE_CHARS = 16 * 2**20  # far above any config or stack file: `validate /dev/zero` must not eat the memory


def parse_file(path: Path, where: str, parse: Callable[[str], T]) -> T:
    """Read `path` as UTF-8 and `parse` its text: the boundary where errors get the file's name `where`."""
    try:
        with path.open(encoding="utf-8") as handle:
            text = handle.read(MAX_FILE_CHARS + 1)
    except OSError as error:
        raise KimiInfraError(f"cannot read: {error.strerror}", where=where) from None
    except UnicodeDecodeError as error:  # its text would quote bytes of the file
        raise SpecError("document", f"is not UTF-8 text (byte {error.start})", "save the file as UTF-8",
                        file=where) from None
    if len(text) > MAX_FILE_CHARS:
        raise SpecError("document", f"is over {MAX_FILE_CHARS // 2**20} Mi characters: not a file kimi-infra reads",
                        "check the path", file=where)
    with in_file(where):
        return parse(text)


# pydantic adds the chosen union member's tag to an error's location; users never wrote it.
_UNION_TAGS = frozenset({"local", "aws-secrets-manager", "file", "s3", "ssm", "int", "float", "str"})


def validation_to_spec_error(error: ValidationError, prefix: str = "") -> SpecError:
    """The first pydantic error as a SpecError; input values are never copied (they may be keys)."""
    first = error.errors(include_url=False, include_input=False)[0]
    field = prefix + _field_path(first["loc"]) if first["loc"] else prefix.rstrip(":.") or "document"
    problem = " ".join(str(first["msg"]).split())
    if first["type"] == "string_pattern_mismatch":
        problem = "has the wrong format"  # the regex itself helps nobody
    return SpecError(field, problem, _fix_for(first))


def _field_path(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for index, item in enumerate(loc):
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item in _UNION_TAGS and index > 0:
            continue  # pydantic adds the union member's tag; users never wrote it
        elif str(item).startswith("function-"):
            continue
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)


_FIXES = {
    "missing": "add this field",
    "extra_forbidden": "remove it or correct its spelling (see README: stack file reference)",
    "int_type": "give a whole number (no quotes)",
    "int_from_float": "give a whole number",
    "float_type": "give a number (no quotes)",
    "bool_type": "use true or false (no quotes)",
    "string_type": "give a text value",
    "list_type": "give a list (`- item` lines or [a, b])",
    "dict_type": "give a mapping (`key: value` lines)",
    "model_type": "give a mapping (`key: value` lines)",
    "model_attributes_type": "give a mapping (`key: value` lines)",
    "too_short": "give at least one item",
    "string_too_short": "give a non-empty value",
    "string_too_long": "shorten the value",
    "string_pattern_mismatch": "correct the value's format (see README: stack file reference)",
    "finite_number": "give a finite number",
    "union_tag_not_found": "add `kind:` naming what this is",
}


_FORMATS = {
    "region": "use an AWS region name such as us-east-1 or cn-north-1",
    "bucket": "use an S3 bucket name (lowercase letters, digits, dots and hyphens)",
    "parameter": "use an SSM parameter name that starts with / (letters, digits, _ . - /)",
    "command": "use an absolute path (starting with /)",
    "primaryModel": "use a model ref <provider>/<model id>, e.g. moonshot/kimi-k2-0905-preview",
    "primary": "use a model ref <provider>/<model id>, e.g. moonshot/kimi-k2-0905-preview",
    "id": "use letters, digits and . _ : - (starting with a letter or digit)",
    "name": "use letters, digits and _ . - (starting with a letter or digit)",
    "stack": "use letters, digits and _ . - (starting with a letter or digit)",
}


def _fix_for(detail: ErrorDetails) -> str:
    kind = detail["type"]
    context = detail.get("ctx") or {}
    if kind == "greater_than":
        return f"use a number greater than {context.get('gt')}"
    if kind == "greater_than_equal":
        return f"use a number of at least {context.get('ge')}"
    if kind == "less_than_equal":
        return f"use a number of at most {context.get('le')}"
    if kind == "literal_error":
        return f"use one of {context.get('expected')}"
    if kind == "string_pattern_mismatch":
        name = next((str(p) for p in reversed(detail["loc"]) if isinstance(p, str)), "")
        return _FORMATS.get(name, "correct the value's format (see README: stack file reference)")
    if kind == "union_tag_invalid":
        return f"set `kind:` to one of {context.get('expected_tags')}"
    return _FIXES.get(kind, "correct this value (see README: stack file reference)")
