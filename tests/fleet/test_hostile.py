"""The agent and `fleet` against what someone with write access to the bucket, a broken endpoint or
a careless operator can put in their way: oversized or forged facts and reports, two agents on one
include file, a kill -9 while OpenClaw checks a config, an endpoint that never answers."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from kimi_infra.content_hash import PLAIN
from kimi_infra.fleet import fleet_state
from kimi_infra.stackfile import load_stack
from tests.support.fleet import BUCKET, KEYS, STACK, TARGETS, deploy, first_deploy, fleet_project, make_agent
from tests.support.project import PROJECT_DIR
from tests.support.slow_proxy import SlowProxy

S3_KEY = TARGETS[0]["key"]
FACTS_KEY = f"{S3_KEY}.fleet.json"
REPORTS = f"{S3_KEY}.fleet/reports/"
PADDING = "x" * 200 * 2**10  # facts and reports are a few hundred bytes; 64 KiB is the most read


def s3():
    return boto3.client("s3", region_name="us-east-1")


def get_json(key: str) -> dict:
    return json.loads(s3().get_object(Bucket=BUCKET, Key=key)["Body"].read())


def put_json(key: str, data: dict) -> None:
    s3().put_object(Bucket=BUCKET, Key=key, Body=json.dumps(data).encode())


def state_of(project: Path, now: datetime | None = None) -> dict[str, dict]:
    """`fleet`'s view of the stack, by gateway id (ids are unique: a forged one shows twice)."""
    gateways = fleet_state(load_stack(project, STACK).spec, now).gateways
    ids = [g["gatewayId"] for g in gateways]
    assert len(ids) == len(set(ids)), ids
    return {g["gatewayId"]: g for g in gateways}


def test_oversized_facts_are_refused_unread_and_the_last_good_config_stays(aws, tmp_path, gateways):
    project = fleet_project(tmp_path / "project")
    first_deploy(project)
    agent = make_agent(project, gateways, "gw-a")
    assert agent.once() == 0
    before = agent.include.read_bytes()
    # Valid facts of a new revision, padded past the limit: not downloaded, whatever they say.
    facts = get_json(FACTS_KEY)
    put_json(FACTS_KEY, {**facts, "configRevision": "0" * 64, "pad": PADDING})

    assert agent.once() == 1

    assert agent.include.read_bytes() == before
    error = get_json(f"{REPORTS}gw-a.json")["lastError"]
    assert "is over 64 KiB" in error and "not downloaded" in error


@pytest.mark.parametrize("forged", [
    {"stack": "fl\nagent gw-a: applied config 0123456789ab from s3://x to /y"},  # a fake log line
    {"configRevision": "../../etc/passwd"},
    {"keyVersions": {"moonshot": "v1\u001b[2J"}},  # a terminal escape
    {"keyMode": "plaintext"},
])
def test_facts_that_deploy_never_writes_are_refused_in_one_line(aws, tmp_path, gateways, forged):
    project = fleet_project(tmp_path / "project")
    first_deploy(project)
    agent = make_agent(project, gateways, "gw-a")
    assert agent.once() == 0
    before = agent.include.read_bytes()
    put_json(FACTS_KEY, {**get_json(FACTS_KEY), **forged})

    assert agent.once() == 1

    assert agent.include.read_bytes() == before
    error = get_json(f"{REPORTS}gw-a.json")["lastError"]
    assert "the fleet facts are not kimi-infra's" in error
    assert all(line.isprintable() for line in [*agent.lines, error]), agent.lines


def test_facts_and_reports_nested_too_deep_for_python_are_refused_not_a_crash(aws, tmp_path, gateways):
    """json.loads raises RecursionError (not ValueError) on JSON nested a few thousand deep: it
    crashed the agent (no report, a restart loop) and `fleet` for every gateway."""
    project = fleet_project(tmp_path / "project")
    first_deploy(project)
    agent = make_agent(project, gateways, "gw-a")
    assert agent.once() == 0
    deep = ("[" * 30_000 + "]" * 30_000).encode()  # 60 KB: under the 64 KiB limit
    s3().put_object(Bucket=BUCKET, Key=f"{REPORTS}gw-deep.json", Body=deep)
    assert "not a kimi-infra agent report" in state_of(project)["gw-deep"]["lastError"]
    s3().put_object(Bucket=BUCKET, Key=FACTS_KEY, Body=deep)

    assert agent.once() == 1
    assert "the fleet facts are not kimi-infra's" in get_json(f"{REPORTS}gw-a.json")["lastError"]


def test_a_refused_config_put_right_without_new_facts_is_taken_on_a_later_poll(aws, tmp_path, gateways):
    """A running agent refused a tampered config; the object is put back as deployed (same
    revision, so the facts do not change): the agent must not wait for the next deploy."""
    project = fleet_project(tmp_path / "project")
    good = first_deploy(project)
    deployed = s3().get_object(Bucket=BUCKET, Key=S3_KEY)
    body, metadata = deployed["Body"].read(), deployed["Metadata"]
    s3().put_object(Bucket=BUCKET, Key=S3_KEY, Body=body.replace(b"131072", b"65536"), Metadata=metadata)
    agent = make_agent(project, gateways, "gw-a")

    assert agent.poll() is False and not agent.include.exists()
    assert "not the one `deploy` published" in get_json(f"{REPORTS}gw-a.json")["lastError"]
    assert agent.state is not None and agent.state.failures == 1  # re-read after a backoff, not every poll
    s3().put_object(Bucket=BUCKET, Key=S3_KEY, Body=body, Metadata=metadata)

    assert agent.poll() is True
    assert PLAIN.of_bytes(agent.include.read_bytes()) == good
    assert get_json(f"{REPORTS}gw-a.json")["lastError"] is None


def test_an_include_file_removed_or_edited_on_the_host_is_put_right_at_the_next_poll(aws, tmp_path, gateways,
                                                                                     aws_calls):
    """A running agent answered every later poll with a 304 and so never noticed that someone
    removed or edited the file the gateway includes: the gateway ran without (or with the wrong)
    models until the next deploy."""
    project = fleet_project(tmp_path / "project")
    good = first_deploy(project)
    agent = make_agent(project, gateways, "gw-a")
    assert agent.poll() is True
    aws_calls.clear()
    assert agent.poll() is True
    assert [c.status for c in aws_calls.answered] == [304]  # nothing changed: one conditional request

    agent.include.unlink()
    assert agent.poll() is True
    assert PLAIN.of_bytes(agent.include.read_bytes()) == good

    agent.include.write_text(agent.include.read_text().replace("131072", "4096"))
    assert agent.poll() is True
    assert PLAIN.of_bytes(agent.include.read_bytes()) == good
    aws_calls.clear()
    assert agent.poll() is True
    assert [c.status for c in aws_calls.answered] == [304]  # and back to one cheap request


def test_ssm_facts_deleted_and_made_again_at_version_1_are_seen(aws, tmp_path, gateways):
    """`pulumi destroy` then `up` (or a hand delete) makes the facts parameter anew at version 1:
    an agent that had seen version 1 of the old one compared numbers only and missed it for good."""
    project = fleet_project(tmp_path / "project")
    first_deploy(project)
    agent = make_agent(project, gateways, "gw-ssm", target="param")
    assert agent.poll() is True
    ssm = boto3.client("ssm", region_name="us-east-1")
    parameter = TARGETS[1]["parameter"]
    assert ssm.get_parameter(Name=f"{parameter}.fleet")["Parameter"]["Version"] == 1
    ssm.delete_parameters(Names=[parameter, f"{parameter}.fleet"])

    again = deploy(fleet_project(tmp_path / "project", context_window=123_456))

    assert ssm.get_parameter(Name=f"{parameter}.fleet")["Parameter"]["Version"] == 1
    assert agent.poll() is True
    assert PLAIN.of_bytes(agent.include.read_bytes()) == again


def test_a_report_under_another_gateways_name_is_not_counted(aws, tmp_path, gateways):
    project = fleet_project(tmp_path / "project")
    first_deploy(project)
    assert make_agent(project, gateways, "gw-a").once() == 0
    good = get_json(f"{REPORTS}gw-a.json")
    # gw-b's name (which only gw-b's agent may write) holding a copy of gw-a's current report,
    # and gw-c's holding a report of another stack.
    put_json(f"{REPORTS}gw-b.json", good)
    put_json(f"{REPORTS}gw-c.json", {**good, "gatewayId": "gw-c", "stack": "prod"})
    # Not a report name at all: ignored.
    s3().put_object(Bucket=BUCKET, Key=f"{REPORTS}../gw-d.json", Body=json.dumps(good).encode())

    gateways_seen = state_of(project)

    assert set(gateways_seen) == {"gw-a", "gw-b", "gw-c"}
    assert (gateways_seen["gw-a"]["current"], gateways_seen["gw-a"]["stale"]) == (True, False)
    for name, why in [("gw-b", "says it is 'gw-a'"), ("gw-c", "is of stack 'prod'")]:
        assert (gateways_seen[name]["current"], gateways_seen[name]["stale"]) == (False, True)
        assert why in gateways_seen[name]["lastError"]
        assert gateways_seen[name]["configRevision"] is None  # nothing of the forged report is shown


def test_an_oversized_report_is_shown_as_unusable_and_fleet_still_answers(aws, tmp_path, gateways):
    project = fleet_project(tmp_path / "project")
    first_deploy(project)
    assert make_agent(project, gateways, "gw-a").once() == 0
    good = get_json(f"{REPORTS}gw-a.json")
    put_json(f"{REPORTS}gw-big.json", {**good, "gatewayId": "gw-big", "pad": PADDING})

    gateways_seen = state_of(project)

    assert gateways_seen["gw-a"]["current"] is True
    assert gateways_seen["gw-big"]["current"] is False and "is over 64 KiB" in gateways_seen["gw-big"]["lastError"]


def test_a_report_dated_in_the_future_goes_stale_by_the_stores_clock(aws, tmp_path, gateways):
    project = fleet_project(tmp_path / "project")
    first_deploy(project)
    assert make_agent(project, gateways, "gw-a").once() == 0
    report = get_json(f"{REPORTS}gw-a.json")
    put_json(f"{REPORTS}gw-a.json", {**report, "reportedAt": "2099-01-01T00:00:00Z"})

    # An hour from now (20 heartbeats of 60 s) nothing has been written there: stale, whatever it claims.
    later = datetime.now(UTC) + timedelta(hours=1)

    assert state_of(project)["gw-a"]["stale"] is False
    assert state_of(project, later)["gw-a"]["stale"] is True


def test_two_agents_on_one_include_file_at_once_end_on_the_last_revision(aws, tmp_path, gateways):
    project = fleet_project(tmp_path / "project")
    first_deploy(project)
    first, second = make_agent(project, gateways, "gw-1"), make_agent(project, gateways, "gw-2")
    second.settings = type(second.settings)(**{**second.settings.__dict__, "include": first.include})
    stop = threading.Event()
    threads = [agent.run_in_thread(stop, interval=0.05) for agent in (first, second)]
    try:
        for round_ in range(5):
            last = deploy(fleet_project(tmp_path / "project", context_window=140_000 + round_))
        for _ in range(600):  # until both have reported the last revision (at most a minute)
            if all(get_json(f"{REPORTS}{name}.json").get("configRevision") == last for name in ("gw-1", "gw-2")):
                break
            time.sleep(0.1)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)

    assert PLAIN.of_bytes(first.include.read_bytes()) == last
    assert [p.name for p in first.include.parent.iterdir()] == [first.include.name]  # no temp file left
    assert not any("error" in line or "cannot" in line for line in first.lines + second.lines), first.lines


@pytest.mark.contract
def test_kill_9_while_openclaw_checks_a_config_leaves_no_key_outside_the_include_folder(aws, tmp_path, gateways,
                                                                                       openclaw):
    project = fleet_project(tmp_path / "project", key_mode="inline")
    first_deploy(project)
    include = gateways / "gw-k" / "models.json5"
    include.parent.mkdir()
    scratch = tmp_path / "tmp"  # the agent's TMPDIR: nothing of its may stay there
    scratch.mkdir()
    command = [sys.executable, "-m", "kimi_infra", "--project-dir", str(project), "agent", "--stack", STACK,
               "--target", "bucket", "--include", str(include), "--gateway-id", "gw-k", "--once"]
    process = subprocess.Popen([*command, "--openclaw", str(openclaw.launcher)], cwd=PROJECT_DIR,
                               env={**_environ(), "TMPDIR": str(scratch), "HOME": str(scratch)},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(1200):  # until the candidate config is on disk for OpenClaw to check (at most 2 minutes)
            if _candidates(include, scratch) or process.poll() is not None:
                break
            time.sleep(0.1)
        assert _candidates(include, scratch), process.communicate()
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        process.kill()

    leftovers = [path for path in scratch.rglob("*") if path.is_file() and _holds_a_key(path)]
    assert leftovers == [] and not include.exists()
    # The next run (without OpenClaw) removes the dead run's temp and converges.
    again = subprocess.run(command, cwd=PROJECT_DIR, env=_environ(), capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert [p.name for p in include.parent.iterdir()] == ["models.json5"]
    assert KEYS["moonshot"] in include.read_text()


def _environ() -> dict[str, str]:
    import os

    return {**os.environ, "PYTHONPATH": str(PROJECT_DIR)}


def _candidates(include: Path, scratch: Path) -> list[Path]:
    """A config being checked: beside the include (a write's temp) or anywhere under TMPDIR."""
    beside = list(include.parent.glob(f".{include.name}.*.tmp"))
    return beside + [path for path in scratch.rglob("*.json") if _holds_a_key(path)]


def _holds_a_key(path: Path) -> bool:
    try:
        return any(key in path.read_text(errors="replace") for key in KEYS.values())
    except OSError:
        return False


def test_an_endpoint_that_never_answers_costs_a_bounded_wait_and_writes_nothing(aws, tmp_path, gateways,
                                                                                 monkeypatch):
    project = fleet_project(tmp_path / "project")
    first_deploy(project)
    agent = make_agent(project, gateways, "gw-slow")
    with SlowProxy(aws.endpoint, delay_s=30) as proxy:  # every request held far past the read timeout
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        codes: list[int] = []
        thread = threading.Thread(target=lambda: codes.append(agent.once()), daemon=True)
        thread.start()
        thread.join(timeout=300)  # a guard against hanging for ever, not a measurement
        assert not thread.is_alive(), "the agent hung on an endpoint that does not answer"
    assert codes == [1]
    assert not agent.include.exists()
    assert any("AWS did not answer in time" in line for line in agent.lines), agent.lines


def test_an_inline_agent_process_never_says_or_reports_a_key(aws, tmp_path, gateways):
    """Inline mode: the config and the include file hold the keys; the agent's output and its
    report never do, whether it applies a config or refuses a tampered one (a real process)."""
    from tests.support.project import run_cli

    project = fleet_project(tmp_path / "project", key_mode="inline")
    first_deploy(project)
    include = gateways / "gw-in" / "models.json5"
    include.parent.mkdir()
    args = ("--project-dir", str(project), "agent", "--stack", STACK, "--target", "bucket", "--include", str(include),
            "--gateway-id", "gw-in", "--once")
    applied = run_cli(*args, in_process=False)
    report = json.dumps(get_json(f"{REPORTS}gw-in.json"))
    deployed = s3().get_object(Bucket=BUCKET, Key=S3_KEY)
    body = deployed["Body"].read()
    tampered = body.replace(b"131072", b"65536") + b"\n// " + KEYS["moonshot"].encode()
    s3().put_object(Bucket=BUCKET, Key=S3_KEY, Body=tampered, Metadata=deployed["Metadata"])
    put_json(FACTS_KEY, {**get_json(FACTS_KEY), "configRevision": "f" * 64})
    refused = run_cli(*args, in_process=False)

    assert (applied.returncode, refused.returncode) == (0, 1), refused.stderr
    assert KEYS["moonshot"] in include.read_text() and include.stat().st_mode & 0o777 == 0o600
    said = applied.stdout + applied.stderr + refused.stdout + refused.stderr + report + \
        json.dumps(get_json(f"{REPORTS}gw-in.json"))
    assert "refused" in said
    for key in KEYS.values():
        assert key not in said
