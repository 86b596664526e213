"""Read `stacks/Pulumi.<stack>.yaml` into a StackSpec, with one-line errors that say what to fix.

Pulumi keeps the stack's config under `config:` with namespaced keys (`kimi-infra:region`).
Keys of other namespaces (`aws:region`) belong to other programs and are ignored; the API keys
(`kimi-infra:moonshotApiKey`, `kimi-infra:kimicodeApiKey`) are Pulumi `secure:` ciphertext that
only the Pulumi engine can read, so they are left alone here.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kimi_infra import simple_yaml
from kimi_infra.catalog import PROVIDERS
from kimi_infra.errors import SpecError, in_file, parse_file, validation_to_spec_error
from kimi_infra.models import StackSpec
from kimi_infra.paths import stack_file

NAMESPACE = "kimi-infra"
STACKS_DIR = "stacks"
KEY_CONFIG_NAMES = frozenset(info.config_key for info in PROVIDERS.values())
# What a Moonshot (`sk-...`) or Kimi Code (`sk-kimi-...`) API key looks like, anywhere in a value.
API_KEY_LIKE = re.compile(r"(?<![A-Za-z0-9])sk-[A-Za-z0-9_-]{20,}")


@dataclass(frozen=True)
class LoadedStack:
    """A validated stack spec and where it came from."""

    spec: StackSpec
    path: Path
    values: dict[str, Any]  # the `kimi-infra:` config as written (prefix removed, no key entries)

    @property
    def source(self) -> str:
        return display_path(self.path)


def find_project_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The folder holding Pulumi.yaml: given, `KIMI_INFRA_PROJECT_DIR`, above cwd, or ours."""
    chosen = explicit or os.environ.get("KIMI_INFRA_PROJECT_DIR")
    if chosen:
        return Path(chosen).resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "Pulumi.yaml").is_file() and (folder / STACKS_DIR).is_dir():
            return folder
    return Path(__file__).resolve().parent.parent


def stack_path(project_dir: Path, stack: str) -> Path:
    return project_dir / stack_file(stack)


def list_stacks(project_dir: Path) -> list[str]:
    """Stack names that have a stack file, sorted."""
    folder = project_dir / STACKS_DIR
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in folder.glob("Pulumi.*.yaml"))


def display_path(path: Path) -> str:
    """`path` relative to the working folder when it is below it (shorter error lines)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def load_stack(project_dir: Path, stack: str) -> LoadedStack:
    """Read and validate one stack file; SpecError names the file, field and fix."""
    path = stack_path(project_dir, stack)
    source = display_path(path)
    if not path.is_file():
        known = ", ".join(list_stacks(project_dir)) or "none"
        raise SpecError("stack", f"no stack named {stack!r}", f"use one of: {known} (or create {stack_file(stack)})",
                        file=source)
    with in_file(source):
        values = split_namespace(read_yaml(path))
        return LoadedStack(spec=spec_from_config(values, stack), path=path, values=values)


def read_yaml(path: Path) -> Any:
    """The YAML document in `path`; one-line errors for a missing file or bad syntax."""
    return parse_file(path, display_path(path), parse_yaml)


def parse_yaml(text: str) -> Any:
    """Parse YAML text; SpecError names the line of a syntax error.

    Plain block YAML (what stack files are written in) is read by `simple_yaml`, which gives what
    PyYAML gives without importing it; anything else by PyYAML (the C loader when present).
    """
    document = simple_yaml.load(text)
    if document is not simple_yaml.NOT_SIMPLE:
        return document
    import yaml

    try:
        return yaml.load(text, Loader=_unique_key_loader())
    except DuplicateKeyError as error:
        raise SpecError(f"line {error.line}", f"duplicate key {error.key!r} (first on line {error.first})",
                        "keep one of the two: YAML would silently use only the last") from None
    except ValueError:  # e.g. an integer of thousands of digits (Python's conversion limit)
        raise SpecError("document", "a number is far too long", "give a number OpenClaw accepts") from None
    except RecursionError:
        raise SpecError("document", "nested too deeply", "flatten the YAML") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "document"
        problem = str(getattr(error, "problem", None) or "not valid YAML")
        raise SpecError(where, f"YAML syntax error: {problem}", "fix the YAML syntax (indentation, colons, quotes)") \
            from None


class DuplicateKeyError(Exception):
    """A mapping names the same key twice (PyYAML would keep the last one without a word)."""

    def __init__(self, key: object, first: int, line: int) -> None:
        super().__init__(key)
        self.key, self.first, self.line = key, first, line


def _unique_key_loader() -> type:
    """PyYAML's safe loader (the C one when present), refusing duplicate keys."""
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class UniqueKeyLoader(base):  # type: ignore[misc, valid-type]
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=deep)
                line = key_node.start_mark.line + 1
                try:
                    if key in seen:
                        raise DuplicateKeyError(key, seen[key], line)
                    seen[key] = line
                except TypeError:
                    continue  # an unhashable key: PyYAML itself reports it
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader


def refuse_plain_keys(value: Any, where: str = "") -> None:
    """Refuse any value (or mapping key) anywhere that looks like a provider's API key; the
    error names where, never the value."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and API_KEY_LIKE.search(key):
                raise _plain_key(where)
            if isinstance(item, dict) and set(item) == {"secure"}:
                continue  # Pulumi ciphertext
            refuse_plain_keys(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            refuse_plain_keys(item, f"{where}[{index}]")
    elif isinstance(value, str) and API_KEY_LIKE.search(value):
        raise _plain_key(where)


def _plain_key(where: str) -> SpecError:
    return SpecError(where, "looks like an API key; keys never go in a stack file in plain text",
                     "remove it: keys live in the secret store (`pulumi config set --secret`, `deploy` from "
                     "the environment, or `rotate`)")


def split_namespace(document: Any) -> dict[str, Any]:
    """The `kimi-infra:` config values, prefix removed, without the (secure) API key entries."""
    if not isinstance(document, dict) or not isinstance(document.get("config"), dict):
        raise SpecError("config", "the file has no `config:` mapping",
                        f"put the settings under `config:` as `{NAMESPACE}:<key>: value`")
    values: dict[str, Any] = {}
    prefix = NAMESPACE + ":"
    for key, value in document["config"].items():
        if not isinstance(key, str) or not key.startswith(prefix):
            continue
        name = key[len(prefix):]
        if name in KEY_CONFIG_NAMES:
            _require_secure(value, key)
            continue
        values[name] = value
    refuse_plain_keys(document)  # after the key entries got their own, clearer error
    return values


def _require_secure(value: Any, key: str) -> None:
    if isinstance(value, dict) and set(value) == {"secure"}:
        return
    raise SpecError(key, "an API key must never be stored in plain text",
                    f"remove it and run `pulumi config set --secret {key}` (reads the key from stdin)")


def spec_from_config(values: dict[str, Any], stack: str) -> StackSpec:
    """Validate namespace values as a StackSpec; the same path for the CLI and the Pulumi program.

    SpecError names the field; the caller that read the values names their file (`in_file`).
    """
    from pydantic import ValidationError

    try:
        return StackSpec.model_validate({**values, "stack": stack})
    except ValidationError as error:
        raise validation_to_spec_error(error, NAMESPACE + ":") from None
