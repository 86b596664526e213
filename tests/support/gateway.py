"""A real OpenClaw gateway for tests: `openclaw gateway run` on loopback, driven over HTTP.

The gateway's config is the file kimi-infra deployed, included whole (`$include`), plus the
gateway's own section, as an operator would keep it: our file stays byte-identical, and a
rotation that re-writes it is seen by the gateway. Each gateway gets its own HOME, state and
temp folders and PATH=/usr/bin:/bin, so nothing of the developer's setup leaks in (they share
only Node's compile cache: tests/support/openclaw.py). Plugins are off (LEAN_GATEWAY), so
OpenClaw no longer tries at start to install the `moonshot` and `kimi` provider plugins from npm; npm
stays offline all the same, since a registry that does not answer delays readiness by a minute.

OpenClaw answers `POST /v1/chat/completions` with model `openclaw/default` through an agent run;
the `x-openclaw-model` header picks the provider and model. The agent has no tools, skills or
workspace files, and session maintenance only reports (LEAN_GATEWAY): the tests are about the provider call,
and those cost most of a run.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from kimi_infra.catalog import PROVIDERS
from tests.support.openclaw import isolated_env
from tests.support.ports import PortTaken, free_port, on_a_free_port

TOKEN = "gw-test-token-7f3a9c1e5b"
READY_TIMEOUT_S = 180
REQUEST_TIMEOUT_S = 120

LEAN_GATEWAY = {
    # No skills: none is listed in the system prompt, the bundled ones are not loaded, and no watcher
    # re-scans skill folders around each agent run.
    "skills": {"allowBundled": [], "load": {"watch": False}},
    # No tools: the fake provider never calls one, and each run built and serialised their schemas.
    "tools": {"deny": ["*"]},
    # No workspace bootstrap files (AGENTS.md, SOUL.md...) written at start or injected into each
    # prompt. OpenClaw deep-merges this over the `$include`d file: our agents.defaults.model(s) stay.
    "agents": {"defaults": {"skills": [], "skipBootstrap": True, "contextInjection": "never"}},
    # Session-store maintenance reports instead of enforcing (OpenClaw 2026.9.6's default is "enforce"). Each
    # request opens a session; enforcing, a maintenance pass plans in a fresh worker thread (1-5 s of module
    # loading on a busy machine) and is thrown away when a session changed meanwhile, then starts again: under
    # load in `make test`, the rotation gateway ran 20 such passes in a minute, 19 thrown away ("SQLite
    # automatic maintenance inputs changed before commit" in its log). A test gateway lives minutes and
    # never nears a session cap or disk budget, so there is nothing to enforce.
    "session": {"maintenance": {"mode": "warn"}},
    # No plugins: each start loaded 14 bundled ones (browser, canvas, memory-core with its cron job, ...) that
    # no test uses, and Doctor tried to install the `moonshot` and `kimi` provider plugins from npm (offline, so
    # it failed, warned and carried on without them). Our providers are `models.providers` entries that
    # OpenClaw's core serves either way. One gateway's start and stop, by hand, two runs each: 10.3 and 12.8 s
    # of CPU instead of 12.3 and 13.4 s; per request no change.
    "plugins": {"enabled": False},
}
"""The gateway's own settings that make each agent run cheaper: bench/gateway_request.py measured
0.17-0.21 instead of 0.28 s of gateway CPU per request with the first three (medians of 3 runs; any one
alone: no clear gain). None is about providers, models or keys: the run still reaches our provider
with our key."""


def model_ref(provider: str) -> str:
    """The provider's first catalog model, as `x-openclaw-model` takes it."""
    return PROVIDERS[provider].ref(PROVIDERS[provider].models[0].definition.id)


@dataclass(frozen=True)
class Chat:
    """One chat request through the gateway: did the provider's answer come back, and how fast."""

    provider: str
    marker: str
    status: int | None
    text: str
    seconds: float
    sent: float  # time.monotonic() when it was sent
    done: float

    @property
    def ok(self) -> bool:
        return self.status == 200 and f"pong from {self.provider}" in self.text


@dataclass(frozen=True)
class Reload:
    """One `openclaw secrets reload --json`."""

    returncode: int
    data: dict | None
    output: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and bool(self.data) and self.data.get("ok") is True


class Gateway:
    """`with Gateway(launcher, home, deployed_file, env) as gateway:` runs one gateway."""

    def __init__(self, launcher: Path, home: Path, deployed: Path, env: dict[str, str] | None = None) -> None:
        self.launcher = launcher
        self.home = home
        self.port = free_port()
        self.config = home / "openclaw.json5"
        self.log = home / "gateway.log"
        self.env = {**isolated_env(launcher, home, self.config), "OPENCLAW_INCLUDE_ROOTS": str(deployed.parent),
                    "npm_config_offline": "true", "npm_config_fetch_retries": "0", **(env or {})}
        self.deployed = deployed
        self.process: subprocess.Popen | None = None
        self.start_seconds = 0.0
        home.mkdir(parents=True, exist_ok=True)
        self._configure(self.port)

    def _configure(self, port: int) -> None:
        """Write the gateway's own config file for `port` (it `$include`s the deployed file)."""
        self.port = port
        self.config.write_text(json.dumps({
            "$include": str(self.deployed),
            "gateway": {"mode": "local", "port": port, "bind": "loopback",
                        "auth": {"mode": "token", "token": TOKEN},
                        "http": {"endpoints": {"chatCompletions": {"enabled": True}}}},
            "logging": {"file": str(self.home / "openclaw.log")},
            **LEAN_GATEWAY,
        }, indent=2))

    def __enter__(self) -> Gateway:
        self.start()
        return self

    def __exit__(self, *_) -> None:
        self.stop()

    def start(self) -> float:
        """Start it and wait until `GET /v1/models` answers 200; returns the seconds that took. Should another
        process bind its port first (a gateway takes ~10 s to bind), it starts again on another port."""
        started = time.monotonic()
        with contextlib.suppress(PortTaken):  # first on the port of the config file __init__ wrote: an agent
            return self._start(started)  # with this gateway's environment may have read that file already
        return on_a_free_port(lambda port: self._start(started, port))

    def _start(self, started: float, port: int | None = None) -> float:
        if port is not None:
            self._configure(port)
        with self.log.open("wb") as log:  # a file, not a PIPE: a full pipe would hang the gateway
            self.process = subprocess.Popen([str(self.launcher), "gateway", "run", "--port", str(self.port)],
                                            env=self.env, cwd=self.home, stdout=log, stderr=subprocess.STDOUT)
        while time.monotonic() - started < READY_TIMEOUT_S:
            if self.process.poll() is not None:
                self.stop()  # whatever it started
                taken = "EADDRINUSE" in self.log_text()
                raise (PortTaken if taken else RuntimeError)(f"the gateway exited ({self.process.returncode}); "
                                                             f"see {self.log}")
            if self._models_answer() == 200:
                self.start_seconds = time.monotonic() - started
                return self.start_seconds
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"the gateway was not ready within {READY_TIMEOUT_S} s; see {self.log}")

    def stop(self, spare: frozenset[int] = frozenset()) -> None:
        """SIGTERM to the gateway process only (it shuts down cleanly in a few seconds; signalling its
        whole process group made it respawn itself outside the group), then SIGKILL whatever of it is
        left: every process whose environment names this gateway's config file, but the `spare` pids
        (e.g. the host's agent, which runs with the gateway's environment)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        for pid in set(self.processes()) - spare:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def processes(self) -> list[int]:
        """Processes (other than us) started for this gateway, found by the config path in their environment."""
        marker = f"OPENCLAW_CONFIG_PATH={self.config}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            with contextlib.suppress(OSError):
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
        return found

    def _models_answer(self) -> int | None:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/v1/models",
                                         headers={"Authorization": f"Bearer {TOKEN}"})
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
        except OSError:
            return None

    def chat(self, provider: str, marker: str, *, stream: bool = False, model: str | None = None) -> Chat:
        """One chat turn answered by `provider`'s first model (or `model`, a `provider/id` ref);
        never raises for a failed request."""
        body = json.dumps({"model": "openclaw/default", "stream": stream,
                           "messages": [{"role": "user", "content": f"ping {marker}"}]}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/v1/chat/completions", data=body,
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json",
                     "x-openclaw-model": model or model_ref(provider)})
        sent = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
                status, text = response.status, response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode("utf-8", "replace")
        except OSError as error:
            status, text = None, f"{type(error).__name__}: {error}"
        done = time.monotonic()
        return Chat(provider, marker, status, text, done - sent, sent, done)

    def reload(self) -> Reload:
        """`openclaw secrets reload --json` against this gateway (it reads port and token from the config)."""
        started = time.monotonic()
        result = subprocess.run([str(self.launcher), "secrets", "reload", "--json"], env=self.env, cwd=self.home,
                                capture_output=True, text=True, timeout=120)
        try:
            data = json.loads(result.stdout)
        except ValueError:
            data = None
        return Reload(result.returncode, data if isinstance(data, dict) else None,
                      (result.stdout + result.stderr)[-2000:], time.monotonic() - started)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class Load:
    """Clients that send chat requests until stopped, each waiting `pause_s` after each answer (none by
    default); every result is kept."""

    def __init__(self, gateway: Gateway, provider: str | tuple[str, ...], clients: int = 3, prefix: str = "load",
                 pause_s: float = 0.0) -> None:
        self.gateway = gateway
        self.pause_s = pause_s
        self.providers = (provider,) if isinstance(provider, str) else provider  # taken in turn
        self.prefix = prefix  # markers are `<prefix>-<n>`: unique across loads with different prefixes
        self.results: list[Chat] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._count = 0
        self._started: dict[str, float] = {}  # marker -> time.monotonic() before it was sent, while in flight
        self._threads = [threading.Thread(target=self._client, daemon=True) for _ in range(clients)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=REQUEST_TIMEOUT_S + 10)

    def _client(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                self._count += 1
                marker = f"{self.prefix}-{self._count:05d}"
                provider = self.providers[self._count % len(self.providers)]
                self._started[marker] = time.monotonic()
            result = self.gateway.chat(provider, marker)
            with self._lock:
                self.results.append(result)
                del self._started[marker]
            self._stop.wait(self.pause_s)

    def sent(self) -> int:
        with self._lock:
            return len(self.results)

    def done_with_requests_before(self, moment: float) -> bool:
        """No request sent before `moment` (time.monotonic()) is still in flight."""
        with self._lock:
            return all(started >= moment for started in self._started.values())
