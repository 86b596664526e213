"""The fleet commands as a user runs them (subprocesses): `agent` bad input, kill -9, `fleet --json`,
`rotate --wait-fleet` with agents running, and no key anywhere in what they say or write."""

from __future__ import annotations

import json
import random
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
from tests.support.fleet import BUCKET, KEYS, STACK, TARGETS, deploy, first_deploy, fleet_project, make_agent
from tests.support.project import PROJECT_DIR, dev_like, make_project, run_cli

NEW_KEY = "sk-fleet-rotated-0123456789abcdefghij"


def agent_cli(project: Path, *args: str) -> subprocess.CompletedProcess:
    return run_cli("--project-dir", str(project), "agent", "--stack", STACK, *args)


def fleet_json(project: Path) -> tuple[int, dict]:
    result = run_cli("--project-dir", str(project), "fleet", "--stack", STACK, "--json")
    return result.returncode, json.loads(result.stdout)


def s3_objects() -> list[str]:
    listed = boto3.client("s3", region_name="us-east-1").list_objects_v2(Bucket=BUCKET)
    return sorted(item["Key"] for item in listed.get("Contents", []))


def aws_written() -> list[tuple[str, str]]:
    """Every S3 object (with its ETag) and SSM parameter (with its version): equal before and after
    a refusal means no report, no facts and no config was written."""
    listed = boto3.client("s3", region_name="us-east-1").list_objects_v2(Bucket=BUCKET).get("Contents", [])
    parameters = boto3.client("ssm", region_name="us-east-1").describe_parameters()["Parameters"]
    return sorted([(item["Key"], item["ETag"]) for item in listed] +
                  [(item["Name"], str(item["Version"])) for item in parameters])


def with_other_stacks(project: Path) -> Path:
    """The fleet project plus `nofleet` (the same targets, no `kimi-infra:fleet`) and `fileonly`
    (a fleet but only a file target)."""
    return make_project(project, {"nofleet": dev_like(targets=TARGETS),
                                  "fileonly": dev_like(targets=TARGETS[2:], fleet={})})


@pytest.mark.parametrize(("args", "where"), [
    (["--stack", "nope", "--target", "bucket"], "no stack named 'nope'"),
    (["--target", "nope"], "--target: stack fl has no target named 'nope'"),
    (["--target", "local"], "--target: target local is a file target"),
    (["--target", "bucket", "--include", "/etc/kimi-models.json5"], "is outside the folders the gateway may include"),
    (["--target", "bucket", "--include", "{root}/missing/models.json5"], "does not exist"),
    (["--target", "bucket", "--include", "{root}"], "is not a regular file"),
    (["--target", "bucket", "--include", "/proc/sys/kimi-models.json5"], "not writable by this user"),
    (["--stack", "nofleet", "--target", "bucket"], "stack nofleet: the stack has no fleet"),
    (["--stack", "fileonly", "--target", "local"], "stack fileonly: the stack has no S3 or SSM target"),
    (["--target", "bucket", "--gateway-id", "../gw-a"], "--gateway-id: '../gw-a' is not a usable gateway id"),
    (["--target", "bucket", "--gateway-id", "gw a"], "--gateway-id: 'gw a' is not a usable gateway id"),
    (["--target", "bucket", "--interval", "0.5"], "--interval: 0.5 s is not between 1 s and the stack's heartbeat"),
    (["--target", "bucket", "--interval", "nan"], "--interval: nan s is not between"),
    (["--target", "bucket", "--interval", "inf"], "--interval: inf s is not between"),
    (["--target", "bucket", "--interval", "600"], "--interval: 600 s is not between 1 s and the stack's heartbeat "
                                                  "(60 s)"),
    (["--target", "bucket", "--openclaw", "/nonexistent/openclaw"], "--openclaw: /nonexistent/openclaw not found"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(aws, tmp_path, gateways, args, where, monkeypatch):
    # /proc/sys: a folder the gateway may include from (as far as the agent can tell) that even
    # root cannot write to (the tests run as root, for whom a chmod-ed folder is writable).
    monkeypatch.setenv("OPENCLAW_INCLUDE_ROOTS", f"{gateways}:/proc/sys")
    project = with_other_stacks(fleet_project(tmp_path / "project"))
    first_deploy(project)
    before = aws_written()
    if "--include" not in args:
        args = [*args, "--include", str(gateways / "models.json5")]
    command = ["--project-dir", str(project), "agent", *(["--stack", STACK] if "--stack" not in args else []),
               *[arg.replace("{root}", str(gateways)) for arg in args], "--once"]

    result = run_cli(*command)

    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert where in line and "fix: " in line
    assert aws_written() == before and list(gateways.iterdir()) == []


def test_the_real_process_refuses_the_gateways_own_config_as_include_and_leaves_it_alone(aws, tmp_path, gateways):
    """`--include ~/.openclaw/openclaw.json` would replace the gateway's whole config (port, auth,
    channels) with the models fragment: one line, exit 2, nothing written, in a real process."""
    project = fleet_project(tmp_path / "project")
    first_deploy(project)
    config = gateways / "gw-own" / "openclaw.json"
    config.parent.mkdir()
    config.write_text('{ "$include": "./kimi-models.json5", gateway: { port: 18789 } }\n')
    before = aws_written()

    result = run_cli("--project-dir", str(project), "agent", "--stack", STACK, "--target", "bucket", "--include",
                     str(config), "--gateway-id", "gw-own", "--once", in_process=False,
                     env={"OPENCLAW_CONFIG_PATH": str(config)})

    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert f"--include {config}: is the gateway's own config file" in line and "fix: " in line
    assert config.read_text() == '{ "$include": "./kimi-models.json5", gateway: { port: 18789 } }\n'
    assert [p.name for p in config.parent.iterdir()] == ["openclaw.json"]
    assert aws_written() == before


@pytest.mark.parametrize(("args", "where"), [
    # `--interval nan` passed `interval < 1` and made the daemon (no --once) poll AWS in a tight loop.
    (["--interval", "nan"], "error: --interval: nan s is not between 1 s and the stack's heartbeat (60 s)"),
    # A missing profile failed only at the first AWS call: the daemon started, reporting nothing.
    (["--profile", "nope"], "error: --profile (AWS_PROFILE): the AWS profile 'nope' is in neither"),
])
def test_the_real_daemon_process_refuses_bad_options_before_it_starts(aws, tmp_path, gateways, args, where):
    project = fleet_project(tmp_path / "project")
    first_deploy(project)
    before = aws_written()

    result = run_cli("--project-dir", str(project), "agent", "--stack", STACK, "--target", "param", "--include",
                     str(gateways / "models.json5"), *args, in_process=False)

    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(where) and "fix: " in line, line
    assert aws_written() == before and list(gateways.iterdir()) == []


@pytest.mark.parametrize(("stack", "where"), [
    ("nope", "no stack named 'nope'"),
    ("nofleet", "stack nofleet: the stack has no fleet"),
    ("fileonly", "stack fileonly: the stack has no S3 or SSM target"),
])
def test_fleet_bad_input_is_one_line_exit_2(aws, tmp_path, gateways, stack, where):
    project = with_other_stacks(fleet_project(tmp_path / "project"))
    first_deploy(project)
    before = aws_written()

    result = run_cli("--project-dir", str(project), "fleet", "--stack", stack, "--json")

    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert where in line and "fix: " in line
    assert aws_written() == before


def test_kill_9_mid_write_leaves_no_partial_include_and_it_converges(aws, tmp_path, gateways):
    project = fleet_project(tmp_path / "project")
    revisions = {first_deploy(project)}
    include = gateways / "gw-k" / "models.json5"
    include.parent.mkdir()
    chance = random.Random(21)
    for round_ in range(6):
        revisions.add(deploy(fleet_project(tmp_path / "project", context_window=100_000 + round_)))
        process = subprocess.Popen(
            [sys.executable, "-m", "kimi_infra", "--project-dir", str(project), "agent", "--stack", STACK,
             "--target", "bucket", "--include", str(include), "--gateway-id", "gw-k", "--once"],
            cwd=PROJECT_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(chance.uniform(0.3, 1.5))  # import, poll, read, write: the kill lands anywhere in it
        process.send_signal(signal.SIGKILL)
        process.wait()
        if include.exists():  # the old revision or a new one, never half a file
            assert PLAIN.of_bytes(include.read_bytes()) in revisions

    last = deploy(fleet_project(tmp_path / "project", context_window=99_999))
    assert agent_cli(project, "--target", "bucket", "--include", str(include), "--gateway-id", "gw-k",
                     "--once").returncode == 0
    assert PLAIN.of_bytes(include.read_bytes()) == last
    assert [p.name for p in include.parent.iterdir()] == ["models.json5"]  # no temp file left behind


def test_fleet_json_says_who_is_current_lagging_and_stale(aws, tmp_path, gateways):
    project = fleet_project(tmp_path / "project")
    first_deploy(project)
    agents = [make_agent(project, gateways, name, target) for name, target in
              [("gw-a", "bucket"), ("gw-b", "bucket"), ("gw-c", "param")]]
    assert [agent.once() for agent in agents] == [0, 0, 0]
    code, state = fleet_json(project)
    assert code == 0 and [g["current"] for g in state["gateways"]] == [True, True, True]

    second = deploy(fleet_project(tmp_path / "project", context_window=150_000))
    assert agents[0].once() == 0
    # gw-c last reported 10 minutes ago (3 heartbeats of 60 s are 3 minutes): stale.
    ssm = boto3.client("ssm", region_name="us-east-1")
    name = f"{TARGETS[1]['parameter']}.fleet-reports/gw-c"
    old = json.loads(ssm.get_parameter(Name=name)["Parameter"]["Value"])
    old["reportedAt"] = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
    ssm.put_parameter(Name=name, Value=json.dumps(old), Type="String", Overwrite=True)

    code, state = fleet_json(project)

    assert code == 1
    assert set(state) == {"stack", "current", "gateways", "oldKeys"} and state["stack"] == STACK
    assert state["current"] == {"configRevision": second, "keyVersions": {}}
    by_id = {g["gatewayId"]: g for g in state["gateways"]}
    assert set(by_id["gw-a"]) >= {"gatewayId", "host", "configRevision", "keyVersions", "appliedAt", "reportedAt",
                                  "lastError", "current", "stale"}
    assert (by_id["gw-a"]["current"], by_id["gw-a"]["stale"]) == (True, False)
    assert (by_id["gw-b"]["current"], by_id["gw-b"]["stale"]) == (False, False)
    assert by_id["gw-c"]["stale"] is True
    lines = run_cli("--project-dir", str(project), "fleet", "--stack", STACK)
    assert lines.returncode == 1 and "gw-b" in lines.stdout and "lagging" in lines.stdout and "stale" in lines.stdout


def test_rotate_wait_fleet_waits_for_every_agent_and_says_when_to_revoke(aws, tmp_path, gateways):
    project = fleet_project(tmp_path / "project", key_mode="inline")
    first_deploy(project)
    agents = [make_agent(project, gateways, name, target) for name, target in
              [("gw-a", "bucket"), ("gw-b", "bucket"), ("gw-c", "param")]]
    stop = threading.Event()
    threads = [agent.run_in_thread(stop) for agent in agents]
    try:
        result = run_cli("--project-dir", str(project), "rotate", "-s", STACK, "-p", "moonshot", "--key-stdin",
                         "--skip-verify", "--wait-fleet", "--fleet-timeout", "60", stdin=NEW_KEY)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)

    assert result.returncode == 0, result.stderr
    assert "every live gateway runs the new key" in result.stderr and "may be revoked from" in result.stderr
    code, state = fleet_json(project)
    assert code == 0
    new_version = state["current"]["keyVersions"]["moonshot"]
    assert all(g["keyVersions"]["moonshot"] == new_version for g in state["gateways"])
    for agent in agents:
        assert NEW_KEY in agent.include.read_text()
        assert agent.include.stat().st_mode & 0o777 == 0o600  # inline: the include holds keys
    # No key in any report, agent log line, or command output.
    said = result.stdout + result.stderr + json.dumps(state) + "".join(line for a in agents for line in a.lines)
    for key in [NEW_KEY, *KEYS.values()]:
        assert key not in said


def test_rotate_revoke_grace_sets_when_the_old_key_may_go(aws, tmp_path, gateways):
    """`--revoke-grace` (an operator whose longest request is short, or a test) replaces the 300 s
    default: the old key may go that long after the last gateway's reload; alone it is refused."""
    project = fleet_project(tmp_path / "project", key_mode="inline")
    first_deploy(project)
    agent = make_agent(project, gateways, "gw-a")
    alone = run_cli("--project-dir", str(project), "rotate", "-s", STACK, "-p", "moonshot", "--key-stdin",
                    "--skip-verify", "--revoke-grace", "7", stdin=NEW_KEY)
    assert alone.returncode == 2 and "--revoke-grace" in alone.stderr and "add --wait-fleet" in alone.stderr
    stop = threading.Event()
    thread = agent.run_in_thread(stop)
    try:
        result = run_cli("--project-dir", str(project), "rotate", "-s", STACK, "-p", "moonshot", "--key-stdin",
                         "--skip-verify", "--wait-fleet", "--fleet-timeout", "60", "--revoke-grace", "7",
                         stdin=NEW_KEY)
    finally:
        stop.set()
        thread.join(timeout=10)

    assert result.returncode == 0, result.stderr
    applied = datetime.fromisoformat(fleet_json(project)[1]["gateways"][0]["appliedAt"].replace("Z", "+00:00"))
    moment = (applied + timedelta(seconds=7)).isoformat().replace("+00:00", "Z")
    assert f"the old key may be revoked from {moment} (7 s later" in result.stderr


def test_wait_fleet_keeps_waiting_for_a_gateway_whose_reports_stop_during_the_wait(aws, tmp_path, gateways):
    """A gateway live when the wait began whose agent then stops reporting (busy with a slow `openclaw
    secrets reload`: 12 s under load in tests/gateway/test_fleet.py, longer than 3 heartbeats of 5 s;
    or dead) still needs the old key: the wait goes on and times out naming it. It used to drop the
    gateway as stale and call the rotation done (`no live gateway`), exit 0."""
    from kimi_infra.fleet import FleetError, wait_for_key
    from kimi_infra.stackfile import load_stack

    project = fleet_project(tmp_path / "project", key_mode="inline")
    first_deploy(project)
    quiet = make_agent(project, gateways, "gw-quiet")
    assert quiet.once() == 0  # live, on the first key
    rotated = run_cli("--project-dir", str(project), "rotate", "-s", STACK, "-p", "moonshot", "--key-stdin",
                      "--skip-verify", stdin=NEW_KEY)
    assert rotated.returncode == 0, rotated.stderr
    version = fleet_json(project)[1]["current"]["keyVersions"]["moonshot"]
    s3 = boto3.client("s3", region_name="us-east-1")
    name = f"{TARGETS[0]['key']}.fleet/reports/gw-quiet.json"
    report = json.loads(s3.get_object(Bucket=BUCKET, Key=name)["Body"].read())

    def agent_falls_silent(_seconds: float) -> None:  # its last report ages past 3 heartbeats
        aged = {**report, "reportedAt": (datetime.now(UTC) - timedelta(minutes=10)).isoformat()}
        s3.put_object(Bucket=BUCKET, Key=name, Body=json.dumps(aged).encode())

    ticks = iter(range(1000))
    lines: list[str] = []
    with pytest.raises(FleetError, match="gw-quiet") as raised:
        wait_for_key(load_stack(project, STACK).spec, "moonshot", version, timeout=5, interval=1, say=lines.append,
                     sleep=agent_falls_silent, clock=lambda: float(next(ticks)))
    assert "do not revoke it" in str(raised.value)


def test_rotate_wait_fleet_times_out_naming_the_gateway_that_lags(aws, tmp_path, gateways):
    project = fleet_project(tmp_path / "project", key_mode="inline")
    first_deploy(project)
    running, silent = make_agent(project, gateways, "gw-run"), make_agent(project, gateways, "gw-silent")
    assert silent.once() == 0  # reported a minute ago, then its agent stopped: live, but lagging
    stop = threading.Event()
    thread = running.run_in_thread(stop)
    try:
        result = run_cli("--project-dir", str(project), "rotate", "-s", STACK, "-p", "moonshot", "--key-stdin",
                         "--skip-verify", "--wait-fleet", "--fleet-timeout", "5", stdin=NEW_KEY)
    finally:
        stop.set()
        thread.join(timeout=10)

    assert result.returncode == 1, result.stderr
    error = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "gw-silent" in error[0] and "gw-run" not in error[0]
    assert "do not revoke it" in error[0]


def secret_versions() -> list[tuple[str, list[str]]]:
    listed = boto3.client("secretsmanager", region_name="us-east-1").list_secret_version_ids(
        SecretId=f"kimi-infra/{STACK}/moonshot")["Versions"]
    return sorted((v["VersionId"], v["VersionStages"]) for v in listed)


@pytest.mark.parametrize(("args", "where"), [
    (["--wait-fleet", "-s", "nofleet"], "stack nofleet: the stack has no fleet"),
    (["--wait-fleet", "--fleet-timeout", "0"], "--fleet-timeout: 0 s is not a usable wait"),
    (["--wait-fleet", "--fleet-timeout", "-5"], "--fleet-timeout: -5 s is not a usable wait"),
    (["--wait-fleet", "--fleet-timeout", "nan"], "--fleet-timeout: nan s is not a usable wait"),
    (["--wait-fleet", "--fleet-timeout", "inf"], "--fleet-timeout: inf s is not a usable wait"),
    # A rotation that looks as if it waits for the fleet, but would not.
    (["--fleet-timeout", "60"], "--fleet-timeout: it only bounds --wait-fleet, which is not given"),
])
def test_rotate_wait_fleet_bad_input_is_refused_before_the_key_changes(aws, tmp_path, gateways, args, where):
    project = fleet_project(tmp_path / "project", key_mode="inline")
    make_project(project, {"nofleet": dev_like(targets=TARGETS, keyMode="inline",
                                               secretStore={"kind": "aws-secrets-manager", "region": "us-east-1"})})
    first_deploy(project)
    before = secret_versions(), aws_written()
    stack = [] if "-s" in args else ["-s", STACK]

    result = run_cli("--project-dir", str(project), "rotate", *stack, "-p", "moonshot", "--key-stdin", "--skip-verify",
                     *args, stdin=NEW_KEY)

    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert where in line and "fix: " in line
    assert (secret_versions(), aws_written()) == before


def test_wait_fleet_is_refused_in_reference_mode_before_anything_changes(aws, tmp_path, gateways):
    project = fleet_project(tmp_path / "project")
    first_deploy(project)
    before = secret_versions()
    result = run_cli("--project-dir", str(project), "rotate", "-s", STACK, "-p", "moonshot", "--key-stdin",
                     "--skip-verify", "--wait-fleet", stdin=NEW_KEY)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "--wait-fleet: in keyMode reference" in line
    assert secret_versions() == before


def test_sigterm_stops_a_running_agent_cleanly_with_one_line_per_event(aws, tmp_path, gateways):
    project = fleet_project(tmp_path / "project")
    first_deploy(project)
    include = gateways / "gw-t" / "models.json5"
    include.parent.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-m", "kimi_infra", "--project-dir", str(project), "agent", "--stack", STACK, "--target",
         "param", "--include", str(include), "--gateway-id", "gw-t", "--interval", "1"],
        cwd=PROJECT_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(600):  # until it has applied the config (at most a minute)
            if include.exists() or process.poll() is not None:
                break
            time.sleep(0.1)
        assert include.exists()
        deploy(fleet_project(tmp_path / "project", context_window=170_000))
        for _ in range(600):  # until the running agent has taken the change
            if "170000" in include.read_text():
                break
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert stdout == ""
    lines = stderr.strip().splitlines()
    assert lines[0].startswith("agent gw-t: stack fl, ssm:us-east-1:/kimi-infra/fl/openclaw-config -> ")
    assert [line for line in lines if "applied config" in line] == lines[1:3] and lines[-1] == "agent gw-t: stopped"
    assert "170000" in include.read_text()
