"""The resolver under hostile input: bound to its stack, always answering within its deadline,
never a traceback and never a key on stderr.

The property tests run `resolver.main` in-process (500 examples each) with stdin, stdout and
stderr swapped for buffers; the rest run the installed launcher as OpenClaw does.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kimi_infra import resolver
from kimi_infra.catalog import secret_id
from kimi_infra.render import render_stack
from kimi_infra.secret import Secret
from kimi_infra.stackfile import load_stack
from kimi_infra.stores.local_file import LocalFileStore
from tests.support.project import CANARY_KEY
from tests.support.resolver import answer, assert_clean, aws_env, call_resolver, install_launcher, request

DEV = secret_id("dev", "moonshot")
PROD = secret_id("prod", "moonshot")
STAGING = secret_id("staging", "moonshot")
PROD_KEY = CANARY_KEY + "-PROD"


@pytest.fixture(scope="module", name="launcher")
def launcher_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return install_launcher(tmp_path_factory.mktemp("resolver") / "bin" / "kimi-infra-resolve")


@pytest.fixture(scope="module")
def two_stack_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One local store file that holds a staging and a prod key (as a shared file could)."""
    path = tmp_path_factory.mktemp("store") / "secrets.json"
    LocalFileStore(path, STAGING).ensure(Secret(CANARY_KEY))
    LocalFileStore(path, PROD).ensure(Secret(PROD_KEY))
    return path


# --- binding to a stack ---------------------------------------------------------------------------


def test_a_staging_resolver_refuses_prod_ids(launcher, two_stack_store):
    result = call_resolver(launcher, ["--local-file", str(two_stack_store), "--stack", "staging"],
                           request(STAGING, PROD))

    assert answer(result) == {"protocolVersion": 1, "values": {STAGING: CANARY_KEY},
                              "errors": {PROD: {"code": "INVALID_ID"}}}
    stderr = result.stderr.decode()
    assert PROD_KEY not in stderr and "Traceback" not in stderr
    assert stderr == (f"kimi-infra-resolve: {PROD} belongs to stack 'prod', and this resolver serves stack "
                      "'staging' only; fix: point the ref at this stack's id, or give that stack its own resolver\n")


def test_the_rendered_args_bind_the_resolver_to_its_stack(launcher, two_stack_store, known_project):
    spec = load_stack(known_project, "staging").spec
    args = _rendered_args(spec)
    assert args[-4:] == ["--stack", "staging", "--deadline-ms", "10000"]

    result = call_resolver(launcher, ["--local-file", str(two_stack_store), *args[2:]], request(PROD))

    assert answer(result)["errors"] == {PROD: {"code": "INVALID_ID"}}


def _rendered_args(spec) -> list[str]:
    import json5

    config = json5.loads(render_stack(spec, "staging").text)
    return config["secrets"]["providers"]["kimi-infra"]["args"]


# --- the deadline ---------------------------------------------------------------------------------


@contextmanager
def silent_endpoint() -> Iterator[str]:
    """A loopback endpoint that accepts connections and never answers (a hung store)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        server.close()


def test_a_hung_store_gets_unavailable_within_the_deadline(launcher):
    with silent_endpoint() as endpoint:
        # OpenClaw would kill us after timeoutMs (15 s): the subprocess timeout stands for that kill.
        result = subprocess.run([str(launcher), "--aws-region", "us-east-1", "--stack", "staging",
                                 "--deadline-ms", "1500"], input=json.dumps(request(STAGING)).encode(),
                                env={"OPENCLAW_CLI": "1", **aws_env(endpoint)}, cwd=launcher.parent,
                                capture_output=True, timeout=15)

    assert answer(result) == {"protocolVersion": 1, "values": {}, "errors": {STAGING: {"code": "UNAVAILABLE"}}}
    assert "did not answer within 1.5 s" in assert_clean(result)


def test_too_many_ids_are_refused_in_one_line(launcher, two_stack_store):
    ids = [secret_id(f"s{i}", "moonshot") for i in range(resolver.MAX_IDS + 1)]
    result = call_resolver(launcher, ["--local-file", str(two_stack_store)], request(*ids))
    assert result.returncode == 1 and result.stdout == b""
    assert assert_clean(result) == (f"kimi-infra-resolve: bad request on stdin: {len(ids)} ids, over the limit "
                                    f"of {resolver.MAX_IDS} per request\n")


# --- hostile input: never a traceback -------------------------------------------------------------


HOSTILE = {
    "5000-digit number": b'{"protocolVersion": 1, "ids": [], "x": ' + b"9" * 5000 + b"}",
    "deep nesting": b'{"protocolVersion": 1, "ids": [], "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "lone surrogate id": b'{"protocolVersion": 1, "ids": ["\\ud800", "' + STAGING.encode() + b'"]}',
    "NaN version": b'{"protocolVersion": NaN, "ids": []}',
    "true version": b'{"protocolVersion": true, "ids": []}',
}


@pytest.mark.parametrize("stdin", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_requests_get_one_line_or_an_answer(launcher, two_stack_store, stdin):
    result = call_resolver(launcher, ["--local-file", str(two_stack_store), "--stack", "staging"], stdin)
    stderr = assert_clean(result)
    assert result.returncode in (0, 1)
    if result.returncode == 0:
        json.loads(result.stdout)
    else:
        assert result.stdout == b"" and stderr.count("\n") == 1, stderr


@pytest.mark.parametrize("closed", [0, 1])
def test_closed_stdin_or_stdout_is_one_line(launcher, two_stack_store, closed):
    result = subprocess.run([str(launcher), "--local-file", str(two_stack_store)],
                            stdin=subprocess.DEVNULL, capture_output=closed == 0, timeout=60,
                            preexec_fn=lambda: os.close(closed), env={"OPENCLAW_CLI": "1"}, cwd=launcher.parent)
    assert result.returncode == 1
    if closed == 0:
        assert assert_clean(result).count("\n") == 1


# --- property tests: arbitrary bytes and JSON -----------------------------------------------------


@contextmanager
def swapped_streams(data: bytes) -> Iterator[tuple[io.StringIO, io.StringIO]]:
    saved = sys.stdin, sys.stdout, sys.stderr
    out, err = io.StringIO(), io.StringIO()
    sys.stdin = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")
    sys.stdout, sys.stderr = out, err
    try:
        yield out, err
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved


def run_in_process(store: Path, data: bytes) -> tuple[int, str, str]:
    with swapped_streams(data) as (out, err):
        code = resolver.main(["--local-file", str(store), "--stack", "staging", "--deadline-ms", "5000"])
    return code, out.getvalue(), err.getvalue()


def check_answer(code: int, stdout: str, stderr: str) -> None:
    assert "Traceback" not in stderr and CANARY_KEY not in stderr
    assert code in (0, 1)
    if code == 1:
        assert stdout == "" and stderr.count("\n") == 1, stderr
        return
    document = json.loads(stdout)
    assert set(document) <= {"protocolVersion", "values", "errors"}
    # A key leaves only as the value of its own id, never for another stack's id.
    for ref_id, value in document["values"].items():
        assert (ref_id, value) == (STAGING, CANARY_KEY)
    assert PROD_KEY not in stdout


IDS = st.one_of(st.sampled_from([STAGING, PROD, DEV, secret_id("staging", "kimi-code"), "kimi-infra/../moonshot"]),
                st.text(max_size=40))
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children,
                                                                                        max_size=4), max_leaves=12)
REQUESTS = st.fixed_dictionaries(
    {"protocolVersion": st.one_of(st.just(1), JSON), "ids": st.one_of(st.lists(IDS, max_size=8), JSON)},
    optional={"provider": st.one_of(st.just("kimi-infra"), JSON), "extra": JSON})

PROPERTY = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@PROPERTY
@given(data=st.binary(max_size=300))
def test_arbitrary_bytes_never_crash_or_leak(two_stack_store, data):
    check_answer(*run_in_process(two_stack_store, data))


@PROPERTY
@given(document=REQUESTS)
def test_arbitrary_json_requests_never_crash_or_leak(two_stack_store, document):
    data = json.dumps(document).encode("utf-8", errors="surrogatepass")
    check_answer(*run_in_process(two_stack_store, data))
