"""One error path: every error carries where, problem and fix in their own fields (no "fix:" inside a
problem), and an AWS error code reads the same from a store as from a target (one translator)."""

from __future__ import annotations

import ast

import pytest
from botocore.exceptions import ClientError

from kimi_infra.stores.aws_secrets_manager import AwsSecretsManagerStore
from kimi_infra.targets.base import TargetError, aws_errors
from tests.support.project import CANARY_KEY, PROJECT_DIR


def _text_of(node: ast.expr) -> str:
    """The literal text of a str or f-string argument (the formatted parts left out)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(_text_of(part) for part in node.values if isinstance(part, ast.Constant))
    if isinstance(node, ast.BinOp):  # "..." + "..."
        return _text_of(node.left) + _text_of(node.right)
    return ""


def _error_calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args:
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name.endswith("Error"):
                yield node


def test_no_error_puts_its_fix_inside_the_problem():
    """`Error("...; fix: ...")` leaves `fix` (and often `where`) empty: --json then carries nulls."""
    offenders = []
    for path in sorted((PROJECT_DIR / "kimi_infra").rglob("*.py")) + sorted((PROJECT_DIR / "components").rglob("*.py")):
        for call in _error_calls(ast.parse(path.read_text(), str(path))):
            if "fix:" in _text_of(call.args[0]):
                offenders.append(f"{path.relative_to(PROJECT_DIR)}:{call.lineno}")
    assert not offenders, f"errors with 'fix:' in their problem text: {offenders}"


@pytest.mark.parametrize("code", [
    "ThrottlingException", "TooManyRequestsException", "LimitExceededException", "AccessDeniedException",
    "ExpiredTokenException", "UnrecognizedClientException", "KMSDisabledException", "InvalidKeyId", "SomethingNew",
])
def test_an_aws_error_code_reads_the_same_from_a_store_and_from_a_target(code: str):
    """AWS's answers are built by hand: moto cannot throttle, nor fail a KMS key (it accepts any id)."""
    answer = {"Error": {"Code": code, "Message": f"value {CANARY_KEY} rejected"}}
    store = AwsSecretsManagerStore("kimi-infra/prod/moonshot", "us-east-1", kms_key_id="alias/kimi")
    from_store = store._explain(ClientError(answer, "PutSecretValue"))
    with pytest.raises(TargetError) as caught, aws_errors("s3://bucket/openclaw.json5", "write"):
        raise ClientError(answer, "PutObject")
    from_target = caught.value

    words = from_target.problem.removeprefix("cannot write: ")
    assert from_store.problem.startswith(words) and from_store.fix == from_target.fix
    for error in (from_store, from_target):
        assert error.where and error.problem and error.fix and "fix:" not in error.problem
        assert CANARY_KEY not in str(error)


def test_a_throttle_is_a_throttle_everywhere():
    answer = {"Error": {"Code": "TooManyRequestsException", "Message": "slow down"}}
    with pytest.raises(TargetError) as caught, aws_errors("ssm:us-east-1:/kimi-infra/prod/openclaw", "write"):
        raise ClientError(answer, "PutParameter")
    assert caught.value.problem == "cannot write: AWS is throttling requests"  # not "AWS answered ..."
