"""`simple_yaml` reads plain block YAML exactly as PyYAML's loader does, and declines everything else."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kimi_infra import simple_yaml
from kimi_infra.errors import SpecError
from kimi_infra.stackfile import DuplicateKeyError, _unique_key_loader, parse_yaml
from tests.support.project import KNOWN_STACKS, known_stack_file


def pyyaml(text: str) -> Any:
    """What the stack-file loader gave before simple_yaml: PyYAML with the duplicate-key check."""
    return yaml.load(text, Loader=_unique_key_loader())


def typed(value: Any) -> Any:
    """`value` with each scalar's type beside it: True == 1 and 1 == 1.0 in Python, not here."""
    if isinstance(value, dict):
        return {typed(key): typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [typed(item) for item in value]
    return (type(value).__name__, value)


def assert_same_as_pyyaml(text: str) -> bool:
    """simple_yaml gives PyYAML's document or declines; True when it gave one."""
    fast = simple_yaml.load(text)
    if fast is simple_yaml.NOT_SIMPLE:
        return False
    assert typed(fast) == typed(pyyaml(text)), text
    return True


@pytest.mark.parametrize("stack", KNOWN_STACKS)
def test_every_shipped_stack_file_is_read_without_pyyaml_to_the_same_document(stack):
    assert assert_same_as_pyyaml(known_stack_file(stack).read_text())


ACCEPTED = [
    "a: 1\nb: -7\nc: 0\nd: true\ne: false\nf: word\n",
    "config:\n  kimi-infra:region: global   # a trailing comment\n  aws:region: us-east-1\n",
    "k:\n- a\n- b\nnext: c\n",  # a sequence at its key's own indentation
    "k:\n    - x: 1\n      y: /abs/path\n    -   z: ./rel\n    - ../up\nother:\n",
    "# only a comment first\n\nk:\n  # a comment inside\n  deep:\n      deeper: https://api.example.com/v1\n",
    "- a\n-\n  - b\n- c: d\n",
    "  indented: first\n  second: line\n",
    "a:\nb:\n  c:\n",  # empty values are null
]


@pytest.mark.parametrize("text", ACCEPTED)
def test_plain_block_yaml_is_read_like_pyyaml(text):
    assert assert_same_as_pyyaml(text)


DECLINED = [
    "a: yes\n", "a: no\n", "a: on\n", "a: Off\n", "a: True\n", "a: null\n", "a: ~\n", "",
    "a: 0x1f\n", "a: 012\n", "a: 1_000\n", "a: 1.5\n", "a: .5\n", "a: .inf\n", "a: 1:30\n", "a: 2024-01-02\n",
    "a: +1\n", "a: " + "9" * 30 + "\n", "a: 'q'\n", 'a: "q"\n', "a: {}\n", "a: [x]\n", "a: &x b\n",
    "a: *x\n", "a: !!str 1\n", "a: |\n  x\n", "a: >\n  x\n", "a: b c\n", "a: b: c\n", "a: b:\n", "a: b#c\n",
    "a:\tb\n", "a: b\r\n", "\ufeffa: b\n", "a: b\x85c: d\n", "a: b\u2028c: d\n", "a: caf\u00e9\n",
    "a: b # non-ASCII, even in a comment: \u00e9\n",
    "a: 1\na: 2\n", "k:\n  x: 1\n  x: 2\n", "---\na: b\n", "a: b\n...\n", "a: ...\n", "a: ---x\n",
    "%YAML 1.1\n---\na: b\n", "a: b\n  c: d\n", "a:\n  b\n  c\n", "- - a\n", "a: 1\n- b\n", "<<: x\n",
    "k:\n    a: 1\n  b: 2\n", "a: -\n", "? a\n: b\n", "a: =\n", "just a scalar\n", "a: b\x7f\n",
]


@pytest.mark.parametrize("text", DECLINED)
def test_everything_else_is_left_to_pyyaml(text):
    assert simple_yaml.load(text) is simple_yaml.NOT_SIMPLE


def test_a_duplicate_key_still_gets_pyyamls_error_with_both_lines():
    with pytest.raises(SpecError) as caught:
        parse_yaml("config:\n  kimi-infra:region: global\n  kimi-infra:region: cn\n")
    assert "duplicate key 'kimi-infra:region' (first on line 2)" in str(caught.value)
    assert caught.value.field == "line 3"


# --- property: random block YAML, with words YAML 1.1 gives a meaning, read like PyYAML ---------

WORDS = st.sampled_from(["moonshot", "kimi-code", "us-east-1", "https://api.moonshot.ai/v1", "/opt/x", ".kimi/x",
                         "a:b", "0", "7", "-3", "01", "1.0", "1e3", "0x10", "yes", "No", "ON", "off", "y", "n",
                         "true", "false", "True", "null", "~", ".inf", ".nan", "2024-01-01", "1:20", "-", "a b",
                         "x#y", "'q'", "{}", "[]", "...", "---", "=", "<<", "é", "...x", "..", "./.", ".5"])
KEYS = st.sampled_from(["a", "kimi-infra:region", "b", "targets", "1", "true", "yes", "x.y", "c"])
LEAVES = st.one_of(WORDS, st.none())
TREES = st.recursive(LEAVES, lambda inner: st.one_of(st.lists(inner, min_size=1, max_size=3),
                                                    st.dictionaries(KEYS, inner, min_size=1, max_size=3)),
                     max_leaves=12)


@st.composite
def block_yaml(draw) -> str:
    """Block YAML for a random tree, drawn with varying indentation, compact sequences and comments."""
    lines: list[str] = []

    def comment() -> str:
        return draw(st.sampled_from(["", "", " # note", "  #x"]))

    def emit(value: Any, indent: int, lead: str) -> None:
        step = draw(st.sampled_from([2, 4]))
        if isinstance(value, dict):
            for number, (key, item) in enumerate(value.items()):
                prefix = lead if number == 0 else " " * indent
                block(prefix + f"{key}:", item, indent, step, compact=draw(st.booleans()))
        elif isinstance(value, list):
            for number, item in enumerate(value):
                prefix = lead if number == 0 else " " * indent
                if isinstance(item, dict) and draw(st.booleans()):
                    emit(item, indent + 2, prefix + "- ")
                else:
                    block(prefix + "-", item, indent, step, compact=False)
        else:
            lines.append(lead + ("" if value is None else str(value)) + comment())
        if draw(st.booleans()):
            lines.append(" " * draw(st.integers(0, 6)) + draw(st.sampled_from(["", "# c"])))

    def block(head: str, item: Any, indent: int, step: int, compact: bool) -> None:
        if isinstance(item, (dict, list)) and item:
            lines.append(head + comment())
            nested = indent if compact and isinstance(item, list) else indent + step
            emit(item, nested, " " * nested)
        else:
            lines.append(head + ("" if item is None else " " + str(item)) + comment())

    emit(draw(TREES), 0, "")
    return "\n".join(lines) + "\n"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(block_yaml())
def test_random_block_yaml_is_read_like_pyyaml_or_declined(text):
    try:
        expected = pyyaml(text)
    except (yaml.YAMLError, DuplicateKeyError):
        assert simple_yaml.load(text) is simple_yaml.NOT_SIMPLE, text
        return
    fast = simple_yaml.load(text)
    if fast is not simple_yaml.NOT_SIMPLE:
        assert typed(fast) == typed(expected), text


def test_the_property_reaches_the_fast_path():
    """The generator above is not all declined: plain documents are read by simple_yaml."""
    plain = "\n".join(f"k{index}:\n  - v{index}\n  - w: {index}" for index in range(20)) + "\n"
    assert assert_same_as_pyyaml(plain)
