"""A fleet of three real OpenClaw gateways, each with its own real `kimi-infra agent` (issue 21).

One set for the module: a `secretref` stack with `kimi-infra:fleet`, an S3 and an SSM target on
this module's moto_server, deployed with the real `pulumi up`; gateways gw-a and gw-b take their
config from the S3 target (through a proxy a test can cut), gw-c from the SSM target. Each agent
runs as its own process (`--interval 1`, `--openclaw` the launcher, the gateway's environment) and
writes the file its gateway `$include`s. The tests run in file order and share the set: the faults
that break something restore it, and the one that stops a gateway comes last; the leak scan after
it reads everything the module's agents, reports and commands said.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import stat
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from kimi_infra.catalog import PROVIDERS
from kimi_infra.content_hash import PLAIN
from kimi_infra.targets.s3 import HASH_METADATA
from tests.support.fake_provider import FakeProvider
from tests.support.fleet_hosts import AgentProcess, CuttableProxy, Host, fleet_json
from tests.support.gateway import Chat, Gateway, Load
from tests.support.gateway_stack import FIGURES, FIRST_KEYS, REGION, DeployedStack, percentile, warm_up
from tests.support.moto import MotoServer, create_bucket
from tests.support.processes import descendants
from tests.support.pulumi_engine import PulumiCli, copy_project

pytestmark = [pytest.mark.gateway, pytest.mark.fleet]

STACK = "gw-fleet"
BUCKET = "kimi-infra-gw-fleet"
S3_KEY = "openclaw/gw-fleet.json5"
PARAMETER = "/kimi-infra/gw-fleet/openclaw"
HEARTBEAT_S = 5  # the smallest the stack file allows: a report is stale after 3 of them
HOSTS = (("gw-a", "bucket"), ("gw-b", "bucket"), ("gw-c", "param"))
ROTATIONS = 10
GRACE_S = 15  # rotate --revoke-grace; the revocation also waits for the requests sent before it (see revoke)
LIMIT_S = 240.0  # a hung step, not a timing assertion
LOAD_PAUSE_S = 0.4  # after each answer, per client (see the rotations under load; the S3 outage alike)


def stack_config(fake: FakeProvider, resolver: Path, probe: int | None = None) -> dict[str, Any]:
    """The stack file's `config:`; `probe` adds a model (the change the gateways must serve)."""
    config: dict[str, Any] = {
        "aws:region": REGION,
        "kimi-infra:region": "global",
        "kimi-infra:providers": ["moonshot", "kimi-code"],
        "kimi-infra:keyMode": "secretref",
        "kimi-infra:resolver": {"command": str(resolver)},
        "kimi-infra:baseUrls": {name: fake.base_url(name) for name in PROVIDERS},
        "kimi-infra:secretStore": {"kind": "aws-secrets-manager", "region": REGION},
        "kimi-infra:fleet": {"heartbeatSeconds": HEARTBEAT_S},
        "kimi-infra:targets": [
            {"name": "bucket", "kind": "s3", "bucket": BUCKET, "key": S3_KEY, "region": REGION},
            {"name": "param", "kind": "ssm", "parameter": PARAMETER, "region": REGION}],
    }
    if probe is not None:
        config["kimi-infra:extraModels"] = {"moonshot": [
            {"id": probe_id(probe), "name": f"Fleet probe {probe}", "contextWindow": 131_072, "maxTokens": 8_192}]}
    return config


def probe_id(probe: int) -> str:
    return f"kimi-fleet-probe-{probe}"


def write_stack_file(project: Path, config: dict[str, Any]) -> None:
    """Replace the stack file's `config:`, keeping what Pulumi added (the encryption salt, `secure:` keys)."""
    path = project / "stacks" / f"Pulumi.{STACK}.yaml"
    current = yaml.safe_load(path.read_text()) if path.exists() else {}
    kept = {k: v for k, v in (current.get("config") or {}).items() if isinstance(v, dict) and "secure" in v}
    path.write_text(yaml.safe_dump({**current, "config": {**config, **kept}}, sort_keys=False))


@dataclass
class Fleet:
    stack: DeployedStack
    pulumi: PulumiCli
    hosts: list[Host]
    proxy: CuttableProxy
    root: Path
    said: list[str] = field(default_factory=list)  # every command output of the module, for the leak scan
    keys: list[str] = field(default_factory=lambda: list(FIRST_KEYS.values()))  # every key the module used

    def dump(self, name: str, data: Any) -> None:
        """Keep what a test saw next to the agents' logs (for the reader of a failed run)."""
        (self.root / f"{name}.json").write_text(json.dumps(data, indent=1))

    def host(self, gateway_id: str) -> Host:
        return next(host for host in self.hosts if host.gateway_id == gateway_id)

    def cli(self, *args: str, stdin: str | None = None):
        result = self.stack.cli(*args, stdin=stdin)
        self.said.append(result.stdout + result.stderr)
        return result

    def state(self) -> tuple[int, dict]:
        code, answer = fleet_json(self.stack)
        self.said.append(json.dumps(answer))
        return code, answer

    def gateways(self) -> dict[str, dict]:
        return {g["gatewayId"]: g for g in self.state()[1]["gateways"]}


def in_parallel(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run each call in its own thread; their results in order (the first exception is raised)."""
    with ThreadPoolExecutor(len(calls)) as pool:
        futures = [pool.submit(call) for call in calls]
        return [future.result() for future in futures]


def wait_for(condition: Callable[[], Any], what: str, limit_s: float = LIMIT_S) -> float:
    """Poll `condition` until it holds; the seconds that took. Fails after `limit_s` (a hung step)."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < limit_s, f"not reached within {limit_s:.0f} s: {what}"
        time.sleep(0.2)
    return time.monotonic() - started


def aws_client(moto: MotoServer, service: str) -> Any:
    return boto3.client(service, region_name=REGION, endpoint_url=moto.endpoint, aws_access_key_id="testing",
                        aws_secret_access_key="testing")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, engine_bin, moto, fake, resolver, openclaw_launcher) -> Iterator[Fleet]:
    root = tmp_path_factory.mktemp("gw-fleet")
    pulumi = PulumiCli(engine_bin, copy_project(root / "project"), root / "pulumi-home", moto.endpoint)
    (root / "state").mkdir()
    pulumi.login(f"file://{root / 'state'}")
    write_stack_file(pulumi.project, stack_config(fake, resolver))
    pulumi.select_stack(STACK)
    pulumi.set_keys(FIRST_KEYS["moonshot"], FIRST_KEYS["kimi-code"])
    create_bucket(BUCKET, REGION, s3=aws_client(moto, "s3"))
    for provider, key in FIRST_KEYS.items():
        fake.accept(provider, key)
    started = time.monotonic()
    pulumi.up()
    FIGURES["fleet"].append(f"first `pulumi up` (secretref, fleet, S3 + SSM targets): "
                            f"{time.monotonic() - started:.1f} s")
    proxy = CuttableProxy(moto.endpoint)
    hosts = []
    for gateway_id, target in HOSTS:
        include = root / f"{gateway_id}-include" / "kimi-models.json5"
        include.parent.mkdir()
        stack = DeployedStack(STACK, "secretref", pulumi.project, include, moto, fake, resolver)
        gateway = Gateway(openclaw_launcher, root / f"{gateway_id}-home", include, stack.gateway_env())
        # The agent runs with its gateway's environment; the S3 agents reach S3 through the proxy.
        env = {**gateway.env, **({"AWS_ENDPOINT_URL_S3": proxy.url} if target == "bucket" else {})}
        agent = AgentProcess(pulumi.project, STACK, target, include, gateway_id, openclaw_launcher, env, root)
        hosts.append(Host(gateway_id, target, include, gateway, agent))
    stack = DeployedStack(STACK, "secretref", pulumi.project, hosts[0].include, moto, fake, resolver)
    stack.keys = {provider: stack.store_key(provider) for provider in PROVIDERS}
    running = Fleet(stack, pulumi, hosts, proxy, root)
    try:
        # The gateway needs the file it includes to start: each agent writes it once (its reload fails, exit 1).
        for host, once in zip(hosts, in_parallel([host.agent.once for host in hosts]), strict=True):
            assert host.include.is_file(), once.stderr
        started = time.monotonic()
        starts = in_parallel([host.gateway.start for host in hosts])
        FIGURES["fleet"].append(f"3 gateways started concurrently: ready in {max(starts):.1f} s "
                                f"({', '.join(f'{s:.1f}' for s in starts)} s each), "
                                f"{time.monotonic() - started:.1f} s wall")
        for chats in in_parallel([lambda host=host: warm_up(host.gateway) for host in hosts]):
            assert all(chat.ok for chat in chats), chats
        for host in hosts:
            host.agent.start()
        seconds = wait_for(lambda: running.state()[0] == 0, "every agent reports its gateway current")
        FIGURES["fleet"].append(f"agents started: `fleet` exit 0 after {seconds:.1f} s")
        yield running
    finally:
        for host in hosts:
            host.agent.stop()
        in_parallel([host.gateway.stop for host in hosts])
        proxy.close()


def chat_key(fake: FakeProvider, chat: Chat) -> str | None:
    """The key the provider saw for `chat` (None if it never reached the provider)."""
    return next((r.key for r in reversed(fake.chats()) if f"ping {chat.marker}" in r.prompt), None)


def test_every_gateway_serves_from_its_agents_include_file(fleet: Fleet, fake: FakeProvider):
    code, state = fleet.state()
    assert code == 0, state
    gateways = {g["gatewayId"]: g for g in state["gateways"]}
    assert set(gateways) == {gateway_id for gateway_id, _ in HOSTS}
    revision = state["current"]["configRevision"]
    for host in fleet.hosts:
        report = gateways[host.gateway_id]
        assert (report["current"], report["stale"], report["lastError"]) == (True, False, None), report
        assert report["target"] == host.target and report["configRevision"] == revision
        assert report["keyVersions"] == state["current"]["keyVersions"] and set(report["keyVersions"]) == set(PROVIDERS)
        assert PLAIN.of_bytes(host.include.read_bytes()) == revision
        # secretref: the include file holds SecretRefs, no key, so it is 0644 (inline would be 0600).
        assert stat.S_IMODE(host.include.stat().st_mode) == 0o644
        assert all(f"kimi-infra/{STACK}/{provider}" in host.include.read_text() for provider in PROVIDERS)
        for provider in PROVIDERS:
            chat = host.gateway.chat(provider, f"{host.gateway_id}-first-{provider}")
            assert chat.ok, chat
            assert chat_key(fake, chat) == fleet.stack.store_key(provider)


def test_a_stack_file_change_applied_with_pulumi_up_reaches_every_gateway(fleet: Fleet, fake, resolver):
    """A new model (and its alias) in the stack file; `pulumi up`; each gateway is asked until it
    serves a chat on that model (before, the gateway refuses it: not in its model allowlist)."""
    seconds: dict[str, list[float]] = {host.gateway_id: [] for host in fleet.hosts}
    written: dict[str, list[float]] = {host.gateway_id: [] for host in fleet.hosts}
    up_seconds = []
    for probe in (1, 2):
        model = f"moonshot/{probe_id(probe)}"
        for host in fleet.hosts:
            before = host.gateway.chat("moonshot", f"{host.gateway_id}-before-{probe}", model=model)
            assert not before.ok, before
        write_stack_file(fleet.pulumi.project, stack_config(fake, resolver, probe))
        started = time.monotonic()
        fleet.pulumi.up()
        done = time.monotonic()
        up_seconds.append(done - started)

        revision = fleet.state()[1]["current"]["configRevision"]

        def serving(host: Host, probe: int = probe, model: str = model, done: float = done,
                    revision: str = revision) -> float:
            wait_for(lambda: PLAIN.of_bytes(host.include.read_bytes()) == revision, f"{host.gateway_id} applied")
            written[host.gateway_id].append(time.monotonic() - done)
            count = iter(range(1_000_000))
            wait_for(lambda: host.gateway.chat("moonshot", f"{host.gateway_id}-probe-{probe}-{next(count)}",
                                               model=model).ok, f"{host.gateway_id} serves {model}")
            return time.monotonic() - done

        for host, took in zip(fleet.hosts, in_parallel([lambda h=h: serving(h) for h in fleet.hosts]), strict=True):
            seconds[host.gateway_id].append(took)
    every = [s for values in seconds.values() for s in values]
    files = [s for values in written.values() for s in values]
    FIGURES["propagation"].append(f"from `up` finishing to the agent's include file written: p50 "
                                  f"{percentile(files, 0.5):.1f} s, max {max(files):.1f} s")
    FIGURES["propagation"].append(f"`pulumi up` of a stack-file change: {', '.join(f'{s:.1f}' for s in up_seconds)} s")
    for gateway_id, values in seconds.items():
        FIGURES["propagation"].append(f"{gateway_id}: from `up` finishing to serving the new model: "
                                      f"{', '.join(f'{s:.1f}' for s in values)} s")
    FIGURES["propagation"].append(f"all gateways: p50 {percentile(every, 0.5):.1f} s, max {max(every):.1f} s "
                                  f"({len(every)} samples; a sample includes one chat turn)")


def new_key(provider: str, index: int) -> str:
    return f"sk-{provider}-fleet-{index:03d}-" + "f" * 24


def test_ten_rotations_with_wait_fleet_under_load_fail_no_request(fleet: Fleet, fake: FakeProvider):
    offset = time.time() - time.monotonic()  # wall clock (reports, rotate's output) -> monotonic
    rotations = []  # (index, provider, new key, {gateway: monotonic moment its report says it applied the key})
    revoked: list[tuple[str, float, float]] = []  # (old key, when rotate said it may go, when the fake revoked it)
    timers = []
    rotate_seconds = []
    # One client per gateway, both providers in turn: more clients on 2 cores made requests take 30 s. The
    # pause keeps the load where it was before the test gateways' agents got lean (~400-500 requests, 0.3 s
    # of gateway CPU each): without it the three clients sent ~1,100 and took most of both cores from
    # whatever else the suite was running, for no more rotations.
    loads = [Load(host.gateway, tuple(PROVIDERS), 1, prefix=f"{host.gateway_id}-load", pause_s=LOAD_PAUSE_S)
             for host in fleet.hosts]
    with contextlib.ExitStack() as running:
        for load in loads:
            running.enter_context(load)
        wait_for(lambda: all(load.sent() >= 2 for load in loads), "every client has its first answers")
        for index in range(1, ROTATIONS + 1):
            provider = ("moonshot", "kimi-code")[index % 2]
            old, key = fleet.stack.store_key(provider), new_key(provider, index)
            fleet.keys.append(key)
            fake.accept(provider, key)  # the provider issued the new key
            started = time.monotonic()
            result = fleet.cli("rotate", "-s", STACK, "-p", provider, "--key-stdin", "--verify-base-url",
                               fake.base_url(provider), "--wait-fleet", "--fleet-timeout", str(LIMIT_S),
                               "--revoke-grace", str(GRACE_S), stdin=key)
            rotated = time.monotonic()  # every gateway had the new key: rotate --wait-fleet said so
            rotate_seconds.append(rotated - started)
            assert result.returncode == 0, result.stderr
            said = re.search(r"the old key may be revoked from (\S+) ", result.stderr)
            assert said, result.stderr
            may_go = datetime.fromisoformat(said.group(1).replace("Z", "+00:00")).timestamp()
            state = fleet.state()[1]
            version = state["current"]["keyVersions"][provider]
            gateways = {g["gatewayId"]: g for g in state["gateways"]}
            assert all(g["keyVersions"][provider] == version for g in gateways.values()), gateways
            # appliedAt has whole seconds: the reload finished before the next whole second.
            applied = {gid: datetime.fromisoformat(g["appliedAt"].replace("Z", "+00:00")).timestamp() + 1 - offset
                       for gid, g in gateways.items()}
            rotations.append((index, provider, key, applied))

            def revoke(provider: str = provider, old: str = old, may_go: float = may_go,
                       rotated: float = rotated) -> None:
                # As test_rotation.py's revoke_after_grace: the grace stands for "longer than the longest request",
                # so a request sent before the rotation that is still in flight is waited for, however long.
                wait_for(lambda: all(load.done_with_requests_before(rotated) for load in loads), "old requests done")
                fake.revoke(provider, old)
                revoked.append((old, may_go, time.time()))

            timer = threading.Timer(max(0.0, may_go - time.time()), revoke)
            timer.start()
            timers.append(timer)
        for timer in timers:
            timer.join()
        during = sum(load.sent() for load in loads)
        wait_for(lambda: sum(load.sent() for load in loads) >= during + 12, "requests after the last revocation")
    chats = [chat for load in loads for chat in load.results]
    failed = [chat for chat in chats if not chat.ok]
    stale = []
    for index, provider, _key, applied in rotations:
        for chat in chats:
            gateway_id = chat.marker.split("-load-")[0]
            if chat.provider == provider and chat.sent > applied[gateway_id]:
                seen = chat_key(fake, chat)
                if seen is None or not seen.startswith(f"sk-{provider}-fleet-") or int(seen.split("-")[-2]) < index:
                    stale.append((chat.marker, index, seen))
    FIGURES["fleet rotation"].append(f"{ROTATIONS} rotations with --wait-fleet (alternating providers), "
                                     f"{sorted(rotate_seconds)[ROTATIONS // 2]:.1f} s median, "
                                     f"{max(rotate_seconds):.1f} s max each (rotate, verify, 3 agents reload, report)")
    FIGURES["fleet rotation"].append(f"requests sent {len(chats)} to 3 gateways ({len(loads)} clients), "
                                     f"failed {len(failed)}, longest {max(c.seconds for c in chats):.1f} s; old keys "
                                     f"revoked {len(revoked)}, each when rotate said (grace {GRACE_S} s) and no "
                                     "older request was in flight")
    fleet.dump("rotations", {"rotations": [(i, p, applied) for i, p, _, applied in rotations], "revoked": [
        (fleet.keys.index(old), may_go - offset, at - offset) for old, may_go, at in revoked], "chats": [
        (c.marker, c.provider, c.sent, c.done, c.status, fleet.keys.index(k) if (k := chat_key(fake, c)) else None)
        for c in chats]})
    assert failed == []
    assert stale == []  # after its report, every gateway's requests carry that rotation's key (or a newer one)
    assert len(revoked) == ROTATIONS and all(at >= may_go for _, may_go, at in revoked)
    for provider in PROVIDERS:
        assert fake.behaviour.keys[provider] == {fleet.stack.store_key(provider)}  # only the current key left


def test_s3_unreachable_the_gateways_serve_on_fleet_shows_them_stale_then_they_catch_up(fleet: Fleet,
                                                                                       fake: FakeProvider):
    on_s3 = [host for host in fleet.hosts if host.target == "bucket"]
    loads = [Load(host.gateway, "moonshot", 1, prefix=f"{host.gateway_id}-outage", pause_s=LOAD_PAUSE_S)
             for host in on_s3]
    with contextlib.ExitStack() as running:
        for load in loads:
            running.enter_context(load)
        fleet.proxy.cut()
        try:
            stale_after = wait_for(lambda: all(fleet.gateways()[h.gateway_id]["stale"] for h in on_s3),
                                   "the S3 gateways are stale")
            code, state = fleet.state()
            assert code == 1
            assert not {g["gatewayId"]: g for g in state["gateways"]}["gw-c"]["stale"]
            # A rotation while they cannot hear of it: the stale gateways are named, not waited for.
            key = new_key("moonshot", 50)
            fleet.keys.append(key)
            fake.accept("moonshot", key)
            result = fleet.cli("rotate", "-s", STACK, "-p", "moonshot", "--key-stdin", "--verify-base-url",
                               fake.base_url("moonshot"), "--wait-fleet", "--fleet-timeout", str(LIMIT_S),
                               "--revoke-grace", str(GRACE_S), stdin=key)
            assert result.returncode == 0, result.stderr
            for host in on_s3:
                assert f"{host.gateway_id} has no live report (none for more than" in result.stderr
        finally:
            fleet.proxy.restore()
        caught_up = wait_for(lambda: fleet.state()[0] == 0, "every gateway current again")
        after = time.monotonic()
        wait_for(lambda: all(any(c.sent > after for c in load.results) for load in loads), "requests after")
    FIGURES["faults"].append(f"S3 cut: the S3 gateways stale after {stale_after:.1f} s; after S3 came back, "
                             f"current again in {caught_up:.1f} s (agent backoff)")
    chats = [chat for load in loads for chat in load.results]
    FIGURES["faults"].append(f"S3 cut: {len(chats)} requests to the S3 gateways, "
                             f"{sum(not c.ok for c in chats)} failed")
    assert [chat for chat in chats if not chat.ok] == []
    assert all(chat_key(fake, chat) == key for chat in chats if chat.sent > after)
    for host in on_s3:  # the failed poll was said once, naming where; the failed report once per try (backoff)
        lines = host.agent.output().splitlines()
        assert sum(f"s3://{BUCKET}/{S3_KEY}.fleet.json: cannot read" in line for line in lines) == 1, lines
        assert sum("cannot report" in line for line in lines) <= 10, lines


def test_an_invalid_and_a_foreign_config_are_refused_and_the_gateways_serve_on(fleet: Fleet, moto):
    s3 = aws_client(moto, "s3")
    facts_key = f"{S3_KEY}.fleet.json"
    config = s3.get_object(Bucket=BUCKET, Key=S3_KEY)
    good_body, good_metadata = config["Body"].read(), config["Metadata"]
    good_facts = s3.get_object(Bucket=BUCKET, Key=facts_key)["Body"].read()
    on_s3 = [host for host in fleet.hosts if host.target == "bucket"]
    before = {host.gateway_id: host.include.read_bytes() for host in on_s3}
    invalid = b'{ models: { mode: "merge", providers: { moonshot: { baseUrl: 42 } } } }'
    forged = hashlib.sha256(invalid).hexdigest()
    assert PLAIN.of_bytes(invalid) == forged
    cases = [
        # Invalid content with its hash forged wherever deploy publishes one: our model refuses it.
        ("invalid", invalid, {HASH_METADATA: forged}, {**json.loads(good_facts), "configRevision": forged},
         "fails our checks"),
        # Another stack's facts (and config) put into our bucket.
        ("foreign", good_body.replace(b"gw-fleet", b"someone-else"), good_metadata,
         {**json.loads(good_facts), "stack": "someone-else"}, "belong to stack someone-else"),
    ]
    try:
        for name, body, metadata, facts, refusal in cases:
            s3.put_object(Bucket=BUCKET, Key=S3_KEY, Body=body, Metadata=metadata)
            s3.put_object(Bucket=BUCKET, Key=facts_key, Body=json.dumps(facts).encode())
            wait_for(lambda refusal=refusal: all(refusal in (fleet.gateways()[h.gateway_id]["lastError"] or "")
                                                 for h in on_s3), f"the {name} config reported as refused")
            time.sleep(2.0)  # two more polls: the refusal stays reported, the include file stays
            gateways = fleet.gateways()
            for host in on_s3:
                assert refusal in (gateways[host.gateway_id]["lastError"] or ""), gateways[host.gateway_id]
                assert host.include.read_bytes() == before[host.gateway_id]
                chat = host.gateway.chat("kimi-code", f"{host.gateway_id}-{name}")
                assert chat.ok, chat
                assert sum(refusal in line for line in host.agent.output().splitlines()) == 1
            assert gateways["gw-c"]["lastError"] is None  # the SSM target was not touched
            FIGURES["faults"].append(f"{name} config in the bucket: refused by both S3 agents, reported as "
                                     f"lastError, include files unchanged, gateways serving")
    finally:
        s3.put_object(Bucket=BUCKET, Key=S3_KEY, Body=good_body, Metadata=good_metadata)
        s3.put_object(Bucket=BUCKET, Key=facts_key, Body=good_facts)
    wait_for(lambda: fleet.state()[0] == 0 and all(g["lastError"] is None for g in fleet.gateways().values()),
             "every gateway current, no error")


def test_an_agent_killed_mid_write_leaves_no_partial_file_and_converges_when_restarted(fleet: Fleet, fake,
                                                                                      resolver):
    """SIGKILL to gw-a's agent while it applies a change (its `openclaw config validate` runs, the
    step before the write), plus the temp file a write killed half way would leave; restarted, it
    removes that file and converges, and the gateway never saw a partial include file."""
    host = fleet.host("gw-a")
    pid = host.agent.process.pid
    killed = threading.Event()
    seen_revisions: set[str] = set()

    def watch() -> None:
        deadline = time.monotonic() + LIMIT_S
        while not killed.is_set() and time.monotonic() < deadline:
            children = descendants(pid)
            seen_revisions.add(PLAIN.of_bytes(host.include.read_bytes()))
            if any("validate" in child.command for child in children):
                host.agent.kill()
                killed.set()
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    write_stack_file(fleet.pulumi.project, stack_config(fake, resolver, 3))
    fleet.pulumi.up()
    watcher.join(LIMIT_S)
    assert killed.is_set(), "the agent applied the change before it could be killed"
    revision = fleet.state()[1]["current"]["configRevision"]
    assert PLAIN.of_bytes(host.include.read_bytes()) != revision  # killed before its write
    partial = host.include.parent / f".{host.include.name}.{pid}.killed00.tmp"  # write_atomic's temp names
    partial.write_bytes(fleet.host("gw-b").include.read_bytes()[:200])  # what a write killed half way leaves
    host.agent.start()
    took = wait_for(lambda: fleet.state()[0] == 0, "the restarted agent converges")
    wait_for(lambda: host.gateway.chat("moonshot", f"gw-a-after-kill-{time.monotonic()}",
                                       model=f"moonshot/{probe_id(3)}").ok, "gw-a serves the change")
    FIGURES["faults"].append(f"agent killed -9 while applying: restarted, current in {took:.1f} s")
    assert not partial.exists()
    assert [p.name for p in host.include.parent.iterdir()] == [host.include.name]
    assert PLAIN.of_bytes(host.include.read_bytes()) == revision
    assert len(seen_revisions) <= 2  # the old file or the new one, never anything in between


def test_a_stopped_gateway_its_agent_reports_the_failed_reload_and_fleet_says_so(fleet: Fleet, fake):
    host = fleet.host("gw-c")
    host.gateway.stop(spare=frozenset({host.agent.process.pid}))
    assert host.agent.process.poll() is None  # the agent runs on
    key = new_key("kimi-code", 60)
    fleet.keys.append(key)
    fake.accept("kimi-code", key)
    result = fleet.cli("rotate", "-s", STACK, "-p", "kimi-code", "--key-stdin", "--verify-base-url",
                       fake.base_url("kimi-code"), "--wait-fleet", "--fleet-timeout", "20", stdin=key)
    assert result.returncode == 1, result.stderr
    assert "gw-c" in result.stderr and "do not revoke it" in result.stderr

    def reported() -> bool:
        gateways = fleet.gateways()
        return "secrets reload" in (gateways["gw-c"]["lastError"] or "") and all(
            gateways[name]["current"] for name in ("gw-a", "gw-b"))

    wait_for(reported, "gw-c reports the failed reload, the others the new key")
    code, state = fleet.state()
    gateways = {g["gatewayId"]: g for g in state["gateways"]}
    assert code == 1 and gateways["gw-c"]["current"] is False and state["oldKeys"]["kimi-code"] == 1
    lines = fleet.cli("fleet", "--stack", STACK)
    assert lines.returncode == 1 and any("gw-c" in line and "reload" in line for line in lines.stdout.splitlines()), \
        lines.stdout
    FIGURES["faults"].append(f"gateway gw-c stopped: rotate --wait-fleet exit 1 naming gw-c; fleet: "
                             f"{next(line for line in lines.stdout.splitlines() if 'gw-c' in line)[:160]}")


def test_no_key_in_any_report_agent_line_or_command_output(fleet: Fleet, moto):
    s3, ssm = aws_client(moto, "s3"), aws_client(moto, "ssm")
    reports = [s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read().decode()
               for item in s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{S3_KEY}.fleet/reports/")["Contents"]]
    reports += [ssm.get_parameter(Name=f"{PARAMETER}.fleet-reports/gw-c")["Parameter"]["Value"]]
    facts = [s3.get_object(Bucket=BUCKET, Key=f"{S3_KEY}.fleet.json")["Body"].read().decode(),
             ssm.get_parameter(Name=f"{PARAMETER}.fleet")["Parameter"]["Value"]]
    agents = [host.agent.output() for host in fleet.hosts]
    includes = [host.include.read_text() for host in fleet.hosts]
    assert len(reports) == 3 and all(agents)
    everything = "\n".join(reports + facts + agents + includes + fleet.said)
    FIGURES["leaks"].append(f"{len(fleet.keys)} keys searched in {len(reports)} reports, {len(facts)} facts, "
                            f"{sum(len(a.splitlines()) for a in agents)} agent lines, {len(fleet.said)} outputs: "
                            f"{sum(key in everything for key in fleet.keys)} found")
    assert [key for key in fleet.keys if key in everything] == []
