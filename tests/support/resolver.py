"""Our exec resolver run as OpenClaw runs it: the launcher `install-resolver` writes, a request on
stdin, only the passed variables, and the one-line JSON answer."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.support.moto import aws_test_env
from tests.support.project import CANARY_KEY, run_cli


def install_launcher(dest: Path) -> Path:
    """`python -m kimi_infra install-resolver --dest DEST`, as an operator runs it."""
    result = run_cli("install-resolver", "--dest", str(dest))
    assert result.returncode == 0, result.stderr
    return dest


def call_resolver(launcher: Path, args: list[str], request: object, env: dict[str, str] | None = None,
                  ) -> subprocess.CompletedProcess:
    """Run the resolver as OpenClaw does: only `env` (plus OPENCLAW_CLI), cwd = its folder, request on stdin."""
    stdin = request if isinstance(request, (str, bytes)) else json.dumps(request)
    return subprocess.run([str(launcher), *args], input=stdin.encode() if isinstance(stdin, str) else stdin,
                          env={"OPENCLAW_CLI": "1", **(env or {})}, cwd=launcher.parent, capture_output=True,
                          timeout=60)


def request(*ids: str) -> dict[str, Any]:
    return {"protocolVersion": 1, "provider": "kimi-infra", "ids": list(ids)}


def answer(result: subprocess.CompletedProcess) -> dict[str, Any]:
    """The one JSON document on stdout (exit 0), checked to be exactly one line of JSON."""
    assert result.returncode == 0, result.stderr.decode()
    text = result.stdout.decode()
    assert text.endswith("\n") and text.count("\n") == 1, text
    return json.loads(text)


def aws_env(endpoint: str) -> dict[str, str]:
    """What the gateway's passEnv would carry to reach moto_server (no default region: the resolver
    is told its region in its arguments)."""
    return {name: value for name, value in aws_test_env(endpoint).items() if name != "AWS_DEFAULT_REGION"}


def assert_clean(result: subprocess.CompletedProcess) -> str:
    """stderr holds no key and no traceback; returns it."""
    stderr = result.stderr.decode()
    assert CANARY_KEY not in stderr and "Traceback" not in stderr, stderr
    return stderr
