"""Gateway hosts of a fleet for the gateway tests: a real OpenClaw gateway with its own real
`kimi-infra agent` process (the gateway's environment, so `openclaw secrets reload` reaches it),
and a TCP proxy in front of moto's S3 that a test can cut (S3 unreachable for the agents only)."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from tests.support.gateway import Gateway
from tests.support.gateway_stack import DeployedStack
from tests.support.slow_proxy import SlowProxy

AGENT_STOP_S = 30


class CuttableProxy(SlowProxy):
    """Forwards to `upstream` without delay until `cut()`: then every open connection is shut and
    new ones are closed at once (the endpoint unreachable), until `restore()`."""

    def __init__(self, upstream: str) -> None:
        self.is_cut = False
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        super().__init__(upstream, 0.0)

    def handle(self, client: socket.socket) -> None:
        if self.is_cut:
            return  # the client socket is closed when handle returns
        with self._lock:
            self._open.add(client)
        try:
            super().handle(client)
        finally:
            with self._lock:
                self._open.discard(client)

    def cut(self) -> None:
        self.is_cut = True
        with self._lock:
            for connection in self._open:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)

    def restore(self) -> None:
        self.is_cut = False


class AgentProcess:
    """`kimi-infra agent` as a real process of its own, stdout and stderr kept in files across restarts."""

    def __init__(self, project: Path, stack: str, target: str, include: Path, gateway_id: str,
                 openclaw: Path, env: dict[str, str], logs: Path) -> None:
        self.args = ["--project-dir", str(project), "agent", "--stack", stack, "--target", target,
                     "--include", str(include), "--gateway-id", gateway_id, "--interval", "1",
                     "--openclaw", str(openclaw)]
        self.env = env
        self.cwd = include.parent
        self.stdout = logs / f"agent-{gateway_id}.stdout"
        self.stderr = logs / f"agent-{gateway_id}.stderr"
        self.process: subprocess.Popen | None = None

    def once(self) -> subprocess.CompletedProcess:
        """`agent --once`, its output appended to the logs too."""
        result = subprocess.run([sys.executable, "-m", "kimi_infra", *self.args, "--once"], env=self.env,
                                cwd=self.cwd, capture_output=True, text=True, timeout=300)
        with self.stdout.open("a") as out, self.stderr.open("a") as err:
            out.write(result.stdout)
            err.write(result.stderr)
        return result

    def start(self) -> None:
        with self.stdout.open("ab") as out, self.stderr.open("ab") as err:
            self.process = subprocess.Popen([sys.executable, "-m", "kimi_infra", *self.args], env=self.env,
                                            cwd=self.cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)

    def kill(self) -> None:
        """SIGKILL: no clean-up of its own."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=AGENT_STOP_S)

    def stop(self) -> int | None:
        """SIGTERM, as systemd stops it; the exit code (None if it was not running)."""
        if self.process is None or self.process.poll() is not None:
            return None
        self.process.terminate()
        try:
            return self.process.wait(timeout=AGENT_STOP_S)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def output(self) -> str:
        return "".join(path.read_text(errors="replace") for path in (self.stdout, self.stderr) if path.exists())


@dataclass
class Host:
    """One gateway host: its gateway, the file the gateway `$include`s, and the agent that writes it."""

    gateway_id: str
    target: str
    include: Path
    gateway: Gateway
    agent: AgentProcess


def fleet_json(stack: DeployedStack) -> tuple[int, dict]:
    """`kimi-infra fleet --stack S --json`: its exit code and its answer."""
    result = stack.cli("fleet", "--stack", stack.name, "--json")
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)
