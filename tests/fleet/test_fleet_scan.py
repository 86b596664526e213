"""What `fleet` and `rotate --wait-fleet` cost the quotas the agents poll under: a scan reads SSM
reports 10 to a call, and a waiting rotation paces its scans by the size of the fleet."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import boto3

from kimi_infra.fleet import FleetError, fleet_state, wait_for_key
from kimi_infra.stackfile import load_stack
from tests.support.fleet import BUCKET, STACK, TARGETS, first_deploy, fleet_project, make_agent

GATEWAYS = 30
PARAMETER = TARGETS[1]["parameter"]


def ssm_fleet(tmp_path, gateways) -> object:
    """A deployed inline stack and GATEWAYS gateways reporting on its SSM target (one real agent's
    report, copied under each gateway's own name, as each agent would write its own)."""
    project = fleet_project(tmp_path / "project", key_mode="inline")
    first_deploy(project)
    assert make_agent(project, gateways, "gw-000", target="param").once() == 0
    ssm = boto3.client("ssm", region_name="us-east-1")
    report = json.loads(ssm.get_parameter(Name=f"{PARAMETER}.fleet-reports/gw-000")["Parameter"]["Value"])
    for number in range(1, GATEWAYS):
        name = f"gw-{number:03d}"
        ssm.put_parameter(Name=f"{PARAMETER}.fleet-reports/{name}", Value=json.dumps({**report, "gatewayId": name}),
                          Type="String", Overwrite=True)
    return load_stack(project, STACK).spec


def test_a_scan_reads_ssm_reports_ten_to_a_call(aws, tmp_path, gateways, aws_calls):
    spec = ssm_fleet(tmp_path, gateways)
    aws_calls.clear()

    state = fleet_state(spec)

    assert len(state.gateways) == GATEWAYS and state.ok
    reads = [c.operation for c in aws_calls.answered if c.service == "ssm" and c.operation.startswith("GetParameter")]
    assert reads.count("GetParameters") == 3  # 30 reports, 10 a call
    assert reads.count("GetParameter") <= 1  # the facts only


def test_a_waiting_rotation_paces_its_scans_by_the_size_of_the_fleet(aws, tmp_path, gateways):
    spec = ssm_fleet(tmp_path, gateways)
    pauses: list[float] = []
    now = [0.0]

    def sleep(seconds: float) -> None:  # a clock of our own: the test measures no time
        pauses.append(seconds)
        now[0] += seconds

    try:
        wait_for_key(spec, "moonshot", "a-version-no-gateway-runs", timeout=3, interval=0.1, say=lambda _: None,
                     sleep=sleep, clock=lambda: now[0])
    except FleetError as error:  # the timeout, naming the 30 gateways that lag
        assert "30 gateway(s) still run the old moonshot key" in str(error)
    else:
        raise AssertionError("no gateway runs that version: the wait must time out")
    # 30 SSM reports a scan: 3 GetParameters calls, paced to stay near 5 TPS, not every 0.1 s.
    assert pauses and all(pause >= GATEWAYS * 0.02 for pause in pauses)
    assert len(pauses) <= 3 / (GATEWAYS * 0.02) + 1


def test_history_of_an_s3_target_does_not_list_the_reports_versions(aws, tmp_path, gateways, aws_calls):
    """The bucket is versioned and each heartbeat report is a new version of `<key>.fleet/reports/<id>.json`
    (1,000 gateways: 1.4 million a day). `history` lists the versions under the config's key as a
    prefix: it must stop at the end of the config's own versions, not page through the reports'."""
    from kimi_infra.ops.history import stack_history

    project = fleet_project(tmp_path / "project")
    first_deploy(project)
    s3 = boto3.client("s3", region_name="us-east-1")

    def beat(number: int) -> None:
        s3.put_object(Bucket=BUCKET, Key=f"{TARGETS[0]['key']}.fleet/reports/gw-a.json", Body=str(number).encode())

    with ThreadPoolExecutor(max_workers=8) as pool:  # more than one page (1,000) of versions
        list(pool.map(beat, range(1_050)))
    aws_calls.clear()

    [history] = stack_history(load_stack(project, STACK).spec, project, "bucket")

    assert len(history.revisions) == 1
    assert aws_calls.by_operation()["ListObjectVersions"] == 1


def test_agents_started_together_spread_their_polls_within_a_fifth_of_the_interval():
    """1,000 agents that start in the same second must not poll in the same second for ever."""
    import random

    from kimi_infra.ops.agent import backoff, next_wait

    waits = [next_wait(True, 0, 30.0, random.Random(agent).random) for agent in range(1_000)]
    assert min(waits) >= 24.0 and max(waits) <= 36.0
    assert len({round(wait) for wait in waits}) >= 12  # spread over every second of the window
    retries = [next_wait(False, 3, 30.0, random.Random(agent).random) for agent in range(100)]
    assert all(0.8 * backoff(3, 30.0) <= wait <= 1.2 * backoff(3, 30.0) for wait in retries)
