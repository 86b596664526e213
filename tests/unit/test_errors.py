"""One error type: `where: problem; fix: fix`, field-level in the core, the file added at the boundary,
and the exit code it carries is what the command exits with."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from kimi_infra.assemble import check_stack
from kimi_infra.cli import COMMANDS, cli
from kimi_infra.errors import KimiInfraError, SpecError, in_file
from kimi_infra.models import StackSpec
from kimi_infra.validate import validate_file, validate_text


def test_the_line_has_where_problem_and_fix():
    assert str(KimiInfraError("is a folder", where="--out x", fix="give a file path")) == \
        "--out x: is a folder; fix: give a file path"
    assert str(KimiInfraError("cannot read: No such file", where="a.json5")) == "a.json5: cannot read: No such file"
    assert str(KimiInfraError("went away", fix="run again")) == "went away; fix: run again"


def test_core_errors_name_the_field_and_the_boundary_adds_the_file():
    spec = StackSpec(stack="t", providers=["moonshot"], primaryModel="moonshot/nope",
                     targets=[{"kind": "file", "path": "x.json5"}])
    with pytest.raises(SpecError) as bare:
        check_stack(spec)
    assert str(bare.value).startswith("kimi-infra:primaryModel: 'moonshot/nope' is not a model")
    with pytest.raises(SpecError) as located, in_file("stacks/Pulumi.t.yaml"):
        check_stack(spec)
    assert located.value.field == "kimi-infra:primaryModel"
    assert str(located.value) == "stacks/Pulumi.t.yaml: " + str(bare.value)


def test_a_file_already_named_is_kept():
    error = SpecError("stack", "no stack named 'x'", "use one of: dev", file="stacks/Pulumi.x.yaml")
    assert error.in_file("elsewhere") is error


def test_validate_names_the_file_only_for_a_file(tmp_path):
    with pytest.raises(SpecError) as text_error:
        validate_text("{")
    assert str(text_error.value).startswith("document: not valid JSON5")
    path = tmp_path / "broken.json5"
    path.write_text("{")
    with pytest.raises(SpecError) as file_error:
        validate_file(path)
    assert str(file_error.value) == f"{path}: {text_error.value}"


def test_the_group_exits_with_the_errors_code(tmp_path):
    missing = tmp_path / "missing.json5"
    result = CliRunner().invoke(cli, ["validate", str(missing)])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1  # the one `invalid:` line, no second `error:` line


def test_every_command_is_in_the_one_table_and_in_help():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in ("render", "validate", "deploy", "rotate", "rollback", "catalog-check", "promote", "status",
                 "history", "install-resolver"):
        assert name in COMMANDS
        assert f"  {name} " in result.output
