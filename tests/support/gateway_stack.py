"""A stack deployed for the gateway tests, and the gateway on it: deploy on moto with `baseUrls` at the
fake provider, start the real gateway on the deployed file, warm it up, and the figures it reports."""

from __future__ import annotations

import subprocess
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import boto3

from kimi_infra.catalog import PROVIDERS, secret_id
from tests.support.fake_provider import FakeProvider
from tests.support.gateway import Chat, Gateway
from tests.support.moto import MotoServer, aws_test_env
from tests.support.project import make_project, run_cli

REGION = "us-east-1"
FIRST_KEYS = {"moonshot": "sk-moonshot-gw-0000000000000000000000", "kimi-code": "sk-kimi-gw-00000000000000000000000"}

FIGURES: dict[str, list[str]] = defaultdict(list)
"""Lines for the summary printed after the run, by section."""


def aws_env(moto: MotoServer) -> dict[str, str]:
    """What boto3 needs to reach moto_server, for our CLI and for the resolver the gateway runs."""
    return aws_test_env(moto.endpoint)


@dataclass
class DeployedStack:
    """A scratch project with one stack deployed on moto; its file target is what the gateway reads."""

    name: str
    mode: str
    project: Path
    deployed: Path
    moto: MotoServer
    fake: FakeProvider
    resolver: Path
    keys: dict[str, str] = field(default_factory=dict)  # provider -> the key current in the store

    def cli(self, *args: str, env: dict[str, str] | None = None, stdin: str | None = None,
            ) -> subprocess.CompletedProcess:
        """Our CLI on this project, with boto3 pointed at this stack's moto_server."""
        return run_cli("--project-dir", str(self.project), *args, env={**aws_env(self.moto), **(env or {})},
                       stdin=stdin)

    def store_key(self, provider: str, stage: str = "AWSCURRENT") -> str:
        """The key the store holds, read with boto3 (not through our code)."""
        client = boto3.client("secretsmanager", region_name=REGION, endpoint_url=self.moto.endpoint,
                              aws_access_key_id="testing", aws_secret_access_key="testing")
        answer = client.get_secret_value(SecretId=secret_id(self.name, provider), VersionStage=stage)
        return answer["SecretString"]

    def gateway_env(self) -> dict[str, str]:
        """What the gateway process gets: the keys in reference mode, the AWS settings in secretref."""
        if self.mode == "reference":
            return {PROVIDERS[p].env_var: key for p, key in self.keys.items()}
        if self.mode == "secretref":
            return aws_env(self.moto)
        return {}


def deploy_stack(root: Path, mode: str, moto: MotoServer, fake: FakeProvider, resolver: Path) -> DeployedStack:
    """Write the stack file (baseUrls at the fake), and `deploy` it: keys into moto, config to the file."""
    name = f"gw-{mode}"
    deployed = root / "gateway-host" / "openclaw.json5"
    config = {
        "kimi-infra:region": "global",
        "kimi-infra:providers": ["moonshot", "kimi-code"],
        "kimi-infra:keyMode": mode,
        "kimi-infra:baseUrls": {name: fake.base_url(name) for name in PROVIDERS},
        "kimi-infra:secretStore": {"kind": "aws-secrets-manager", "region": REGION},
        "kimi-infra:targets": [{"name": "gateway-host", "kind": "file", "path": str(deployed)},
                               {"name": "config-parameter", "kind": "ssm", "parameter": f"/kimi-infra/{name}/openclaw",
                                "region": REGION}],
    }
    if mode == "secretref":
        config["kimi-infra:resolver"] = {"command": str(resolver)}
    stack = DeployedStack(name, mode, make_project(root / "project", {name: config}), deployed, moto, fake, resolver)
    for provider, key in FIRST_KEYS.items():
        fake.accept(provider, key)
    result = stack.cli("deploy", "--stack", name,
                       env={PROVIDERS[p].env_var: key for p, key in FIRST_KEYS.items()})
    assert result.returncode == 0, result.stderr
    stack.keys = {provider: stack.store_key(provider) for provider in PROVIDERS}
    assert stack.keys == FIRST_KEYS
    return stack


def start_gateway(launcher: Path, stack: DeployedStack, home: Path) -> Gateway:
    gateway = Gateway(launcher, home, stack.deployed, stack.gateway_env())
    seconds = gateway.start()
    FIGURES["gateway start"].append(f"{stack.mode}: ready in {seconds:.1f} s")
    return gateway


def warm_up(gateway: Gateway, providers=tuple(PROVIDERS)) -> list[Chat]:
    """The first agent run of a gateway takes much longer than the next ones (caches, catalog)."""
    return [gateway.chat(provider, f"warm-up-{provider}") for provider in providers]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def latency_line(label: str, chats: list[Chat]) -> str:
    seconds = [chat.seconds for chat in chats]
    return (f"{label}: {len(chats)} requests, p50 {percentile(seconds, 0.5) * 1000:.0f} ms, "
            f"p99 {percentile(seconds, 0.99) * 1000:.0f} ms, failed {sum(not chat.ok for chat in chats)}")
