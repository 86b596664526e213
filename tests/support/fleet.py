"""A stack with a fleet (an S3 and an SSM target, facts published by deploy) and agents run in-process
with `--once` semantics, each with its own include file under one include root."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from kimi_infra.deploy import deploy_all, render_for_deploy, seed_missing_keys
from kimi_infra.ops.agent import AgentSettings, AgentState, check_settings, poll_once, run, start_state
from kimi_infra.secret import Secret
from kimi_infra.stackfile import load_stack
from tests.support.moto import create_bucket
from tests.support.project import dev_like, make_project

STACK = "fl"
BUCKET = "kimi-infra-fleet-config"
TARGETS = [
    {"name": "bucket", "kind": "s3", "bucket": BUCKET, "key": "openclaw/fl.json5", "region": "us-east-1"},
    {"name": "param", "kind": "ssm", "parameter": "/kimi-infra/fl/openclaw-config", "region": "us-east-1"},
    {"name": "local", "kind": "file", "path": "out/fl.json5"},
]
KEYS = {"moonshot": "sk-fleet-moonshot-0123456789abcdef", "kimi-code": "sk-fleet-kimicode-0123456789abcdef"}


def fleet_project(root: Path, key_mode: str = "reference", context_window: int = 131_072, **extra) -> Path:
    """The `fl` stack (Secrets Manager store, fleet on) written into `root`; the override makes deploys differ."""
    overrides = {"moonshot/kimi-k2-0905-preview": {"contextWindow": context_window}}
    store = {"kind": "aws-secrets-manager", "region": "us-east-1"}
    if key_mode == "secretref":
        extra.setdefault("resolver", {"command": "/opt/kimi-infra/bin/kimi-infra-resolve"})
    return make_project(root, {STACK: dev_like(targets=TARGETS, modelOverrides=overrides, keyMode=key_mode,
                                               secretStore=store, fleet={"heartbeatSeconds": 60}, **extra)})


def deploy(project: Path, keys: dict[str, str] | None = None) -> str:
    """Seed missing keys and write every target (and the fleet facts), as `deploy` does; the content hash."""
    spec = load_stack(project, STACK).spec
    seed_missing_keys(spec, project, {name: Secret(value) for name, value in (keys or KEYS).items()})
    deploy_all(spec, project)
    return render_for_deploy(spec, project).content_hash


def first_deploy(project: Path) -> str:
    create_bucket(BUCKET)
    return deploy(project)


@dataclass
class Agent:
    """One gateway host's agent, polled by hand (as `--once` does) or run in a thread."""

    settings: AgentSettings
    lines: list[str] = field(default_factory=list)
    state: AgentState | None = None

    @property
    def include(self) -> Path:
        return self.settings.include

    def once(self) -> int:
        """A fresh `agent --once`: state rebuilt from the include file and its report."""
        return run(self.settings, self.lines.append, threading.Event(), once=True)

    def poll(self) -> bool:
        """One more poll of a long-running agent (its state kept between polls)."""
        if self.state is None:
            self.state = start_state(self.settings)
        return poll_once(self.settings, self.state, self.lines.append)

    def run_in_thread(self, stop: threading.Event, interval: float = 0.2) -> threading.Thread:
        settings = AgentSettings(**{**self.settings.__dict__, "interval": interval})
        thread = threading.Thread(target=run, args=(settings, self.lines.append, stop), daemon=True)
        thread.start()
        return thread


def make_agent(project: Path, root: Path, gateway_id: str, target: str = "bucket",
               openclaw: str | None = None) -> Agent:
    """An agent for gateway `gateway_id`, its include file in `<root>/<gateway_id>/` (root is an include root)."""
    (root / gateway_id).mkdir(parents=True, exist_ok=True)
    include = root / gateway_id / "kimi-models.json5"
    return Agent(check_settings(project, STACK, target, include, gateway_id, 1.0, openclaw))
