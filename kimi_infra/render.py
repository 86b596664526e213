"""OpenClaw config -> JSON5 text (byte-stable), its content hash, and parse-back.

The layout copies the seed: two-space indent, bare keys where JSON5 allows them, objects and
lists of plain values on one line, everything else one item per line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cache, lru_cache
from typing import Any

from pydantic import BaseModel

from kimi_infra.assemble import assemble, shared_objects
from kimi_infra.content_hash import PLAIN, ContentHasher
from kimi_infra.masking import MASKED_KEY
from kimi_infra.models import OpenClawConfig, StackSpec
from kimi_infra.paths import stack_file
from kimi_infra.secret import Secret

try:  # json's C accelerator itself: quotes and escapes, keeps non-ASCII; `import json` costs every start
    from _json import encode_basestring
except ImportError:  # a Python without it: json's own fallback, the same function
    from json.encoder import encode_basestring

_BARE_KEY = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
_INDENT = "  "
_CONTAINERS = (dict, list, BaseModel)  # written over several lines when they hold one


@dataclass(frozen=True)
class Rendered:
    """A rendered config: its text, the content hash of that text, and whether it holds a key."""

    text: str
    content_hash: str
    holds_secret: bool

    def __repr__(self) -> str:  # the text may hold a key: never show it
        return (f"Rendered(content_hash={self.content_hash[:12]}..., bytes={len(self.text)}, "
                f"holds_secret={self.holds_secret})")

    def hashed_with(self, hasher: ContentHasher) -> Rendered:
        """The same config, its hash taken with `hasher` (the stack's keyed one when it holds a key)."""
        return replace(self, content_hash=hasher.of_text(self.text))


def render(config: OpenClawConfig, header: str | None = None) -> Rendered:
    """Render `config` as JSON5 text, preceded by `header` as a `//` comment line if given.

    The hash is plain sha256 (`withheld` for a config with keys); `render_for_deploy` rehashes a
    key-bearing config with the stack's salt.
    """
    body = _model(config, 0)  # written from the models: what model_dump(exclude_none=True) gives, without the copy
    text = (f"// {header}\n" if header else "") + body + "\n"
    return Rendered(text=text, content_hash=PLAIN.of_text(text), holds_secret=config.env is not None)


def parse(text: str) -> OpenClawConfig:
    """Parse JSON5 text and validate it against our model.

    Raises ValueError with a line and column for bad syntax (never echoing content, which may
    hold a key), or pydantic's ValidationError for a bad config.
    """
    import pyjson5  # C parser: ~2,000x faster than the pure-Python json5 package

    try:
        data = pyjson5.decode(text)
    except pyjson5.Json5DecoderException as error:
        # args[1:] hold the partly parsed document, which may hold a key: keep only the message.
        raise ValueError(_syntax_message(text, str(error.args[0]))) from None
    return OpenClawConfig.model_validate(data)


def _syntax_message(text: str, message: str) -> str:
    position = re.search(r"near (\d+)", message)
    if position is None:
        return message
    offset = int(position.group(1))
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"line {line}, column {column}: {message[:position.start()].strip()}"


def _value(value: object, depth: int) -> str:
    # Exact types first: the models hold plain str/dict/list/int, and `type() is` is the cheap test.
    kind = type(value)
    if kind is str:
        return encode_basestring(value)  # type: ignore[arg-type]
    if kind is dict:
        return _object(value, depth)  # type: ignore[arg-type]
    if kind is list:
        return _array(value, depth)  # type: ignore[arg-type]
    if kind is int:
        return int.__repr__(value)
    if isinstance(value, BaseModel):
        return _model(value, depth)
    if isinstance(value, str):
        return encode_basestring(value)
    if isinstance(value, dict):
        return _object(value, depth)
    if isinstance(value, list):
        return _array(value, depth)
    return _scalar(value)


# The catalog's models are module constants that every stack's config shares (assemble puts the same
# objects in: `shared_objects`), so the text of each at a given depth is written once per process.
# Parsed or overridden models are new objects: never cached.
_CATALOG_IDS = frozenset(id(shared) for shared in shared_objects())
_catalog_text: dict[tuple[int, int], str] = {}


def _model(model: BaseModel, depth: int) -> str:
    """A model as an object: its fields in declaration order, None left out (as model_dump(exclude_none=True))."""
    key = (id(model), depth)
    text = _catalog_text.get(key)
    if text is not None:
        return text
    values = model.__dict__
    text = _members([(key_text, values[name]) for name, key_text in _field_keys(type(model))
                     if values[name] is not None], depth)
    if key[0] in _CATALOG_IDS:
        _catalog_text[key] = text
    return text


@cache
def _field_keys(model_class: type[BaseModel]) -> tuple[tuple[str, str], ...]:
    """(field name, its `key: ` text) of each field, in declaration order: computed once per class."""
    return tuple((name, _key(name)) for name in model_class.__pydantic_fields__)


def _object(obj: dict[str, Any], depth: int) -> str:
    return _members([(_key(key), value) for key, value in obj.items()], depth)


def _members(pairs: list[tuple[str, Any]], depth: int) -> str:
    """An object from (`key: ` text, value) pairs."""
    if not pairs:
        return "{}"
    items: list[str] = []
    append = items.append
    nested = False  # flat objects go on one line; found in the same pass that renders the items
    for key, value in pairs:
        # Exact types inline (the models hold plain ones): a call per value is most of the cost.
        kind = type(value)
        if kind is str:
            append(key + encode_basestring(value))
        elif kind is int:
            append(key + int.__repr__(value))
        elif kind is bool:
            append(key + ("true" if value else "false"))
        elif kind is list:
            nested = True
            append(key + _array(value, depth + 1))
        elif kind is dict:
            nested = True
            append(key + _object(value, depth + 1))
        elif isinstance(value, BaseModel):
            nested = True
            append(key + _model(value, depth + 1))
        else:
            nested = nested or isinstance(value, _CONTAINERS)
            append(key + _value(value, depth + 1))
    if nested:
        return _block("{", items, "}", depth)
    return "{ " + ", ".join(items) + " }"


def _array(items: list[Any], depth: int) -> str:
    if not items:
        return "[]"
    rendered: list[str] = []
    append = rendered.append
    nested = False
    for value in items:
        if type(value) is str:  # e.g. `input: ["text"]`
            append(encode_basestring(value))
            continue
        if isinstance(value, BaseModel):  # e.g. a provider's models
            nested = True
            append(_model(value, depth + 1))
            continue
        nested = nested or isinstance(value, _CONTAINERS)
        append(_value(value, depth + 1))
    if nested:
        return _block("[", rendered, "]", depth)
    return "[" + ", ".join(rendered) + "]"


def _block(open_: str, items: list[str], close: str, depth: int) -> str:
    inner = ",\n" + _INDENT * (depth + 1)
    return open_ + inner[1:] + inner.join(items) + "\n" + _INDENT * depth + close


@lru_cache(maxsize=4096)
def _key(key: str) -> str:
    """`key: ` as JSON5 writes it: bare when it can be, else quoted."""
    return (key if _BARE_KEY.match(key) else encode_basestring(key)) + ": "


def _scalar(value: object) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value)


def header_for(stack: str) -> str:
    """The first line of every rendered file; depends on the stack name only (byte-stable)."""
    return f"Generated by kimi-infra for stack {stack!r} from {stack_file(stack)}: edit that file, not this one."


def render_stack(spec: StackSpec, keys: Mapping[str, Secret] | None = None) -> Rendered:
    """The stack's rendered config, exactly as the CLI and `pulumi up` write it."""
    from pydantic import ValidationError

    from kimi_infra.errors import validation_to_spec_error

    try:
        return render(assemble(spec, keys), header=header_for(spec.stack))
    except ValidationError as error:  # a key that no config can hold (e.g. over 64 KiB)
        raise validation_to_spec_error(error) from None


def render_masked(spec: StackSpec) -> Rendered:
    """The stack's config with every inline key replaced by a mask: safe to hash, diff and show."""
    keys: dict[str, Secret] | None = {name: MASKED_KEY for name in spec.providers} if spec.files_hold_keys else None
    return render_stack(spec, keys)
