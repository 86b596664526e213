"""A reader for the plain block YAML that stack files are written in, without importing PyYAML.

`render` reads every stack file of the project; PyYAML's import is a good part of its start.
This reader takes only a subset whose meaning is plain (block mappings and sequences, comments,
plain scalars from a small alphabet, whole numbers, true/false; printable ASCII only) and gives
exactly what PyYAML's safe loader gives for it. Anything else (quotes, flow `{}`/`[]`, anchors, tags,
block scalars, tabs, YAML 1.1's yes/no/on/off/null words, other number forms, a duplicate key, odd
indentation, a character beyond ASCII) makes it answer NOT_SIMPLE, and the caller reads the text
with PyYAML, errors and all.
Pure: no imports beyond `re`.
"""

from __future__ import annotations

import re
from typing import Any

NOT_SIMPLE: Any = object()
"""What `load` answers for text outside the subset: read it with PyYAML instead."""

# A plain scalar: starts with a letter, `/` or `.`, and holds no character with a YAML meaning
# here (`#`, quotes, flow brackets, `&*!|>%@`, spaces). A `:` inside is fine when no space follows.
_SCALAR = re.compile(r"[A-Za-z/.][A-Za-z0-9_./:-]*")
_INT = re.compile(r"-?(?:0|[1-9][0-9]{0,17})")  # a whole number PyYAML reads as int (no _, 0x, 0o, 1:30)
# Words YAML 1.1 (PyYAML) reads as booleans or null, and `.inf`/`.nan` forms: left to PyYAML
# (true/false are handled here).
_RESERVED = frozenset({"yes", "Yes", "YES", "no", "No", "NO", "True", "TRUE", "False", "FALSE", "on", "On", "ON",
                       "off", "Off", "OFF", "null", "Null", "NULL", ".inf", ".Inf", ".INF", ".nan", ".NaN", ".NAN"})
# Besides printable ASCII and newlines (checked with isascii first): tabs, CR, control characters.
# Text with any other character (non-ASCII even in a comment) is left to PyYAML.
_AWKWARD = re.compile(r"[^\n\x20-\x7e]")


class _NotSimple(Exception):
    """Raised inside the reader; `load` turns it into NOT_SIMPLE."""


def load(text: str) -> Any:
    """The document in `text` as PyYAML's safe loader reads it, or NOT_SIMPLE."""
    if not text.isascii() or _AWKWARD.search(text):
        return NOT_SIMPLE
    lines = _significant_lines(text)
    if not lines:
        return NOT_SIMPLE  # an empty document: PyYAML's answer (None) is its to give
    try:
        value, end = _block(lines, 0, lines[0][0])
    except (_NotSimple, RecursionError):
        return NOT_SIMPLE
    return value if end == len(lines) else NOT_SIMPLE


def _significant_lines(text: str) -> list[tuple[int, str]]:
    """(indentation, content) of each line that is not blank or a comment; trailing comments cut."""
    lines = []
    for line in text.split("\n"):
        content = line.lstrip(" ")
        if not content or content.startswith("#"):
            continue
        comment = content.find(" #")
        if comment != -1:
            content = content[:comment]
        lines.append((len(line) - len(line.lstrip(" ")), content.rstrip(" ")))
    return lines


def _block(lines: list[tuple[int, str]], start: int, indent: int) -> tuple[Any, int]:
    """The mapping or sequence whose lines start at `start` with `indent` spaces; (value, next line)."""
    content = lines[start][1]
    if content == "-" or content.startswith("- "):
        return _sequence(lines, start, indent)
    return _mapping(lines, start, indent)


def _sequence(lines: list[tuple[int, str]], start: int, indent: int) -> tuple[list[Any], int]:
    items: list[Any] = []
    index = start
    while index < len(lines) and lines[index][0] == indent and _is_item(lines[index][1]):
        rest = lines[index][1][1:]
        if not rest:  # `-` alone: the item is the block below it
            value, index = _nested(lines, index + 1, indent, same_indent_sequence=False)
        elif _split_key(rest.lstrip(" ")) is not None:  # `- key: value` opens a mapping at the key's column
            column = indent + 1 + len(rest) - len(rest.lstrip(" "))
            lines[index] = (column, rest.lstrip(" "))
            value, index = _mapping(lines, index, column)
        else:
            value, index = _scalar(rest.lstrip(" ")), index + 1
        items.append(value)
    # A line at the sequence's own indentation may follow: the next key of the mapping that holds
    # it (`key:` then `- item` at the key's indentation); the caller checks that one.
    return items, _check_end(lines, index, indent + 1)


def _mapping(lines: list[tuple[int, str]], start: int, indent: int) -> tuple[dict[Any, Any], int]:
    mapping: dict[Any, Any] = {}
    index = start
    while index < len(lines) and lines[index][0] == indent and not _is_item(lines[index][1]):
        split = _split_key(lines[index][1])
        if split is None:
            raise _NotSimple
        key = _scalar(split[0])
        if key in mapping:
            raise _NotSimple  # PyYAML (our loader) reports it with both lines
        if split[1]:
            mapping[key], index = _scalar(split[1]), index + 1
        else:
            mapping[key], index = _nested(lines, index + 1, indent, same_indent_sequence=True)
    return mapping, _check_end(lines, index, indent)


def _nested(lines: list[tuple[int, str]], index: int, indent: int, *, same_indent_sequence: bool) -> tuple[Any, int]:
    """The value under a `key:` or `-` line: a deeper block, a sequence at the key's own
    indentation (`key:` then `- item`, which YAML allows), or null when nothing follows."""
    if index < len(lines):
        deeper, content = lines[index]
        if deeper > indent or (same_indent_sequence and deeper == indent and _is_item(content)):
            return _block(lines, index, deeper)
    return None, index


def _check_end(lines: list[tuple[int, str]], index: int, indent: int) -> int:
    """A block ends at a line indented less than `indent`; anything else there is not simple."""
    if index < len(lines) and lines[index][0] >= indent:
        raise _NotSimple
    return index


def _is_item(content: str) -> bool:
    return content == "-" or content.startswith("- ")


def _split_key(content: str) -> tuple[str, str] | None:
    """(key, value) of `key: value` or `key:`; None when the content is not a mapping entry."""
    colon = content.find(": ")
    if colon != -1:
        return content[:colon], content[colon + 2:].lstrip(" ")
    if content.endswith(":"):
        return content[:-1], ""
    return None


def _scalar(text: str) -> Any:
    """A plain scalar as PyYAML resolves it: int, bool, or str; anything doubtful is not simple."""
    if _INT.fullmatch(text):
        return int(text)
    if text == "true" or text == "false":
        return text == "true"
    if text in _RESERVED or not _SCALAR.fullmatch(text) or text.endswith(":") or text.startswith(("...", "---")):
        raise _NotSimple
    if text[0] == "." and not (len(text) > 1 and (text[1].isalpha() or text[1] in "./")):
        raise _NotSimple  # `.5`, `.e1`: PyYAML's float forms start with a dot
    return text
