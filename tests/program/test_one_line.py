"""components/providers/one_line.py: in the SDK's dynamic-provider server a KimiInfraError is
reported as its one line, any other exception (a bug) keeps its traceback, and nothing changes in
any other process. The engine test (tests/engine/test_one_line.py) runs it in the real plugin."""

from __future__ import annotations

import importlib.util
import traceback
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType

from components.providers import one_line
from kimi_infra.errors import KimiInfraError

SDK_ABORT = "context.abort(grpc.StatusCode.UNKNOWN, traceback.format_exc())"


def server_like(name: str = one_line.SERVER_MODULE) -> ModuleType:
    """A module shaped as the SDK's server is where install() looks: its spec's name and `traceback`."""
    module = ModuleType("__main__")
    module.__spec__ = ModuleSpec(name, None)
    module.traceback = traceback  # type: ignore[attr-defined]
    return module


def formatted(module: ModuleType, error: Exception) -> str:
    try:
        raise error
    except Exception:
        return module.traceback.format_exc()  # type: ignore[attr-defined]


def test_the_sdk_server_still_formats_errors_where_we_hook():
    """The pinned SDK's server aborts a failed call with traceback.format_exc(): what install() relies on."""
    spec = importlib.util.find_spec(one_line.SERVER_MODULE)
    assert spec is not None and spec.origin
    assert SDK_ABORT in Path(spec.origin).read_text()


def test_our_error_is_its_one_line_and_a_bug_keeps_its_traceback():
    module = server_like()
    assert one_line.install(module)
    error = KimiInfraError("AWS is throttling requests", where="kimi-infra/dev/moonshot", fix="wait a minute")
    assert formatted(module, error) == "kimi-infra/dev/moonshot: AWS is throttling requests; fix: wait a minute"
    bug = formatted(module, ZeroDivisionError("division by zero"))
    assert bug.startswith("Traceback (most recent call last):") and "ZeroDivisionError" in bug
    assert module.traceback.format_exception is traceback.format_exception  # type: ignore[attr-defined]


def test_no_other_module_is_touched():
    program = server_like("__main__")
    assert not one_line.install(program)
    assert program.traceback is traceback  # type: ignore[attr-defined]
    assert not one_line.install()  # pytest's own __main__
    assert traceback.format_exc is not one_line.format_exc
