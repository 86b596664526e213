"""Two `rotate` runs at once on the same stack and provider never lose a key.

Each pair starts two real CLI subprocesses together (inline mode, so targets hold the key too).
Either both finish, one after the other (current and previous are the two new keys), or one is
refused with one line and the other's key is current; the inline targets hold the current key.
Local store: 20 pairs (a rotation lock serialises them). Secrets Manager on moto_server: 10 pairs
(a compare-and-set on AWSCURRENT decides).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from kimi_infra import deploy
from kimi_infra.ops import rotate as rot
from kimi_infra.secret import Secret
from tests.support.project import PROJECT_DIR
from tests.support.rotation import OLD, deployed_texts, seed, stages
from tests.support.rotation import rotation_project as make_project


def start_rotation(project: Path, stack: str, key: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_DIR)}
    process = subprocess.Popen(
        [sys.executable, "-m", "kimi_infra", "--project-dir", str(project), "rotate", "-s", stack, "-p", "moonshot",
         "--key-stdin", "--skip-verify"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    process.stdin.write(key)
    process.stdin.close()
    return process


def finish(process: subprocess.Popen) -> tuple[int, str]:
    stderr = process.stderr.read()
    process.wait(timeout=300)
    process.stdout.close()
    process.stderr.close()
    return process.returncode, stderr


def run_pair(project: Path, stack: str, index: int) -> dict[str, tuple[int, str]]:
    keys = [f"sk-pair{index:02d}-{side}-{'0123456789' * 3}" for side in "ab"]
    processes = [start_rotation(project, stack, key) for key in keys]
    return {key: finish(process) for key, process in zip(keys, processes, strict=True)}


def lost_updates(spec, project: Path, outcomes: dict[str, tuple[int, str]]) -> list[str]:
    """What went wrong with one pair; empty when no key was lost."""
    problems = []
    done = [key for key, (code, _) in outcomes.items() if code == 0]
    refused = {key: err for key, (code, err) in outcomes.items() if code != 0}
    now = stages(spec, project)
    for key, err in refused.items():
        last = err.strip().splitlines()[-1] if err.strip() else ""
        if "Traceback" in err or not last.startswith("error: ") or key in err:
            problems.append(f"refusal is not one clean line: {last!r}")
    if not done:
        problems.append("both refused")
    elif len(done) == 2 and {now["current"], now["previous"]} != set(done):
        problems.append(f"both done but current/previous are not the two keys: {now}")
    elif len(done) == 1 and now["current"] != done[0]:
        problems.append(f"the finished rotation's key is not current: {now}")
    if now["pending"] is not None:
        problems.append("a pending version was left behind")
    for text in deployed_texts(spec, project):
        if now["current"] not in text:
            problems.append("an inline target does not hold the current key")
    return problems


def run_pairs(project: Path, stack: str, count: int) -> tuple[list[str], dict[str, int]]:
    spec = seed(project, stack)
    problems: list[str] = []
    tally = {"both done": 0, "one refused": 0}
    for index in range(count):
        outcomes = run_pair(project, stack, index)
        found = lost_updates(spec, project, outcomes)
        problems += [f"pair {index}: {p}" for p in found]
        if found:
            print([err.strip().splitlines()[-1:] for _, err in outcomes.values()])
        tally["both done" if all(code == 0 for code, _ in outcomes.values()) else "one refused"] += 1
    print(f"{stack}: {count} pairs: {tally}, lost updates: {len(problems)}")
    return problems, tally


def test_20_concurrent_pairs_on_the_local_store_lose_nothing(tmp_path):
    project = make_project(tmp_path, "inline")

    problems, tally = run_pairs(project, "dev", 20)

    assert problems == []
    assert tally["both done"] == 20  # the lock serialises: both finish


@pytest.mark.usefixtures("aws")
def test_10_concurrent_pairs_on_secrets_manager_lose_nothing(tmp_path):
    project = make_project(tmp_path, "inline")

    problems, _ = run_pairs(project, "staging", 10)

    assert problems == []


def new_key(name: str) -> Secret:
    return Secret(f"sk-race-{name}-{'0123456789' * 3}")


def run_first_when_a_write_starts(monkeypatch, interloper: Callable[[], None], every: bool = False) -> Callable:
    """The lost update the 10 pairs once found (1 pair in 10, `make test`), made certain: `interloper` runs
    whole after the op under test has read the keys it renders and before its first write lands (`every`:
    before each of its writes), so that write (with no conflict: it reads what the interloper wrote) would
    leave a key that is no longer current. Returns the real `write_targets`."""
    real = deploy.write_targets

    def interloper_then_write(*args, **kwargs):
        monkeypatch.setattr(deploy, "write_targets", real)  # the interloper's own writes run as they are
        interloper()
        if every:
            monkeypatch.setattr(deploy, "write_targets", interloper_then_write)
        return real(*args, **kwargs)

    monkeypatch.setattr(deploy, "write_targets", interloper_then_write)
    return real


def rotate_quietly(spec, project: Path, provider: str, key: Secret) -> Callable[[], None]:
    return lambda: rot.rotate(spec, project, provider, key, verify_url=None, say=lambda _: None)


def run_op(op: str, spec, project: Path, say: Callable[[str], None] = lambda _: None) -> None:
    """A rotation (to a new key), rollback or `--resume` of the moonshot key."""
    if op == "rotate":
        rot.rotate(spec, project, "moonshot", new_key("ours"), verify_url=None, say=say)
    elif op == "rollback":
        rot.rollback(spec, project, "moonshot", say=say)
    else:
        rot.resume(spec, project, "moonshot", verify_url=None, say=say)


def current_keys_in_every_target(spec, project: Path) -> dict[str, str | None]:
    """Each provider's current key, after checking that every target holds all of them."""
    current = {provider: stages(spec, project, provider)["current"] for provider in spec.providers}
    for text in deployed_texts(spec, project):
        assert text is not None and all(key in text for key in current.values()), "a target holds a stale key"
    return current


@pytest.mark.usefixtures("aws")
@pytest.mark.parametrize("op", ["rotate", "rollback", "resume"])
@pytest.mark.parametrize("other", ["moonshot", "kimi-code"])
def test_whoever_writes_last_leaves_the_current_keys_in_the_targets(tmp_path, monkeypatch, op, other):
    """A rotation, rollback or `--resume` of the moonshot key writes its targets while a rotation of the same
    key, or of the other provider's key, runs whole (Secrets Manager has no lock): the targets end with
    every store's current key, and the run says it wrote them again."""
    project = make_project(tmp_path, "inline")
    spec = seed(project, "staging")
    lines: list[str] = []
    if op == "rollback":
        rotate_quietly(spec, project, "moonshot", new_key("before"))()
    run_first_when_a_write_starts(monkeypatch, rotate_quietly(spec, project, other, new_key(other)))

    run_op(op, spec, project, lines.append)

    assert current_keys_in_every_target(spec, project)[other] == new_key(other).reveal()
    assert any("a newer key became current while this run wrote the targets" in line for line in lines), lines


@pytest.mark.usefixtures("aws")
@pytest.mark.parametrize("op", ["rotate", "rollback", "resume"])
def test_keys_changing_at_every_write_end_in_one_line_naming_resume_which_then_finishes(tmp_path, monkeypatch, op):
    """A rotation of the other provider's key lands before every write of ours: after its last write the run
    cannot say its targets hold the current keys, so it refuses in one line naming `--resume` (it never ends
    quietly on a stale key); `--resume` then leaves the current keys in every target."""
    project = make_project(tmp_path, "inline")
    spec = seed(project, "staging")
    if op == "rollback":
        rotate_quietly(spec, project, "moonshot", new_key("before"))()
    interlopers: list[Secret] = []

    def a_rotation() -> None:
        interlopers.append(new_key(f"kimi-code-{len(interlopers)}"))
        rotate_quietly(spec, project, "kimi-code", interlopers[-1])()

    real = run_first_when_a_write_starts(monkeypatch, a_rotation, every=True)
    with pytest.raises(rot.RotationError) as refused:
        run_op(op, spec, project)
    monkeypatch.setattr(deploy, "write_targets", real)

    assert len(interlopers) == deploy.WRITE_ATTEMPTS
    message = str(refused.value)
    assert "\n" not in message and "--resume" in message and "may not hold the current keys" in message
    assert not any(key.reveal() in message for key in interlopers)
    run_op("resume", spec, project)
    assert current_keys_in_every_target(spec, project)["kimi-code"] == interlopers[-1].reveal()


def config_target_props(spec, project: Path, target) -> dict:
    """A ConfigTarget's inputs for one target of an inline stack whose moonshot key just got a new version."""
    from kimi_infra.content_hash import PLAIN
    from kimi_infra.targets import open_stack_target

    return {"spec": spec.model_dump_json(exclude_none=True), "target": target.model_dump(exclude_none=True),
            "location": open_stack_target(spec, target, project, PLAIN).location, "renderHash": "x",
            "keyVersions": {"MOONSHOT_API_KEY": "v2"}}


def run_door(door: str, spec, project: Path, monkeypatch, *extra: str) -> subprocess.CompletedProcess:
    """`deploy --stack S --yes` (in this process), or what `pulumi up` does to each target of the stack: the
    ConfigTarget provider's own `update` (its code as the engine runs it) with `"ok"` as stdout."""
    from tests.support.project import run_cli

    if door == "deploy":
        return run_cli("--project-dir", str(project), "deploy", "--stack", spec.stack, "--yes", *extra)
    from components.providers.config_target import ConfigTargetProvider
    from kimi_infra.errors import KimiInfraError

    monkeypatch.chdir(project)  # the providers find the project the engine runs in from their working folder
    try:
        for target in spec.targets:
            props = config_target_props(spec, project, target)
            ConfigTargetProvider().update(props["location"], {**props, "keyVersions": {}}, props)
    except KimiInfraError as error:
        return subprocess.CompletedProcess(["pulumi", "up"], 2, "", f"error: {error}")
    return subprocess.CompletedProcess(["pulumi", "up"], 0, "ok", "")


def run_first_when_a_target_is_written(monkeypatch, interloper: Callable[[], None]) -> None:
    """`interloper` runs whole just before the first write call of any target lands, after the render: the
    window in which deploy, `pulumi up` and rotate all hold the keys they read."""
    from kimi_infra.targets import LocalFileTarget
    from kimi_infra.targets.s3 import S3Target
    from kimi_infra.targets.ssm import SsmParameterTarget

    pending = [interloper]
    for kind in (LocalFileTarget, S3Target, SsmParameterTarget):
        def write(self, rendered, real=kind.write):
            if pending:
                pending.pop()()
            return real(self, rendered)

        monkeypatch.setattr(kind, "write", write)


DOORS = ["deploy", "pulumi up"]


@pytest.mark.usefixtures("aws")
@pytest.mark.parametrize("door", DOORS)
def test_a_deploy_that_a_rotation_overtakes_writes_the_current_keys_again(tmp_path, monkeypatch, door):
    """`deploy` or `pulumi up` has rendered the keys it read when a whole rotation lands before its write: it
    must not leave the old key there, so it checks the keys after its write and writes again (the rule `rotate`
    follows, deploy.write_until_current)."""
    project = make_project(tmp_path, "inline")
    spec = seed(project, "staging")
    run_first_when_a_target_is_written(monkeypatch, rotate_quietly(spec, project, "moonshot", new_key("rotation")))

    result = run_door(door, spec, project, monkeypatch)

    assert result.returncode == 0, result.stderr
    assert new_key("rotation").reveal() not in result.stdout + result.stderr
    if door == "deploy":
        assert "stack staging: a newer key became current while this run wrote the targets" in result.stderr
    assert current_keys_in_every_target(spec, project)["moonshot"] == new_key("rotation").reveal()
    monkeypatch.chdir(tmp_path)
    status = run_door("deploy", spec, project, monkeypatch, "--preview", "--json")  # nothing left to write
    assert [t["action"] for t in json.loads(status.stdout)["targets"]] == ["unchanged"] * len(spec.targets)


@pytest.mark.usefixtures("aws")
def test_deploy_json_names_the_hash_it_wrote_after_writing_again(tmp_path, monkeypatch):
    from kimi_infra.deploy_record import read_record

    project = make_project(tmp_path, "inline")
    spec = seed(project, "staging")
    run_first_when_a_target_is_written(monkeypatch, rotate_quietly(spec, project, "moonshot", new_key("rotation")))

    document = json.loads(run_door("deploy", spec, project, monkeypatch, "--json").stdout)

    recorded = {entry.contentHash for entry in read_record(project, "staging").values()}
    assert recorded == {document["writtenSha256"]} and document["writtenSha256"] != document["renderedSha256"]


FOREIGN = b"// another tool's config\n"


def a_writer_after_each_read(monkeypatch, times: int) -> None:
    """Another writer puts its config (FOREIGN...) at an S3 target after our write read it (the first `times`
    writes): a conflict."""
    from kimi_infra.targets.s3 import S3Target

    real = S3Target._snapshot
    left = [times]

    def snapshot(self, client):
        seen = real(self, client)
        if left[0]:
            left[0] -= 1
            client.put_object(Bucket=self.bucket, Key=self.key, Body=FOREIGN + b"// %d\n" % left[0])  # a new ETag
        return seen

    monkeypatch.setattr(S3Target, "_snapshot", snapshot)


def s3_body(target) -> bytes:
    import boto3

    return boto3.client("s3", region_name=target.region).get_object(Bucket=target.bucket, Key=target.key)["Body"].read()


def drop(target) -> None:
    import boto3

    boto3.client("s3", region_name=target.region).delete_object(Bucket=target.bucket, Key=target.key)


@pytest.mark.usefixtures("aws")
@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize("mode", ["inline", "reference"])
def test_a_conflict_in_deploy_overwrites_nothing_in_any_key_mode(tmp_path, monkeypatch, door, mode):
    """Writing again after a conflict is for rotate only: deploy and `pulumi up` leave another writer's
    object as it is and say so in one line, whatever the key mode."""
    project = make_project(tmp_path, mode)
    spec = seed(project, "staging")
    bucket = spec.targets[0]
    drop(bucket)  # the write then creates it (IfNoneMatch="*"), and the other writer gets in first
    a_writer_after_each_read(monkeypatch, times=1)

    result = run_door(door, spec, project, monkeypatch)

    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert "another writer changed it after we read it, so nothing was overwritten" in last
    assert "Traceback" not in result.stderr
    assert s3_body(bucket).startswith(FOREIGN)


@pytest.mark.usefixtures("aws")
def test_conflicts_at_every_write_of_a_rotation_end_in_the_conflict_line(tmp_path, monkeypatch):
    """rotate writes again after a conflict, WRITE_ATTEMPTS times; then it names the conflict (not keys that
    kept changing: they did not)."""
    project = make_project(tmp_path, "inline")
    spec = seed(project, "staging")
    drop(spec.targets[0])
    a_writer_after_each_read(monkeypatch, times=deploy.WRITE_ATTEMPTS)
    lines: list[str] = []

    with pytest.raises(rot.RotationError) as refused:
        run_op("rotate", spec, project, lines.append)

    message = str(refused.value)
    assert "another writer changed it" in message and "--resume" in message and "keys changed each time" not in message
    assert sum("a target changed under us" in line for line in lines) == deploy.WRITE_ATTEMPTS - 1


@pytest.mark.usefixtures("aws")
@pytest.mark.parametrize("op", ["deploy", "rotate"])
def test_a_store_unreachable_after_the_write_says_the_targets_were_written(tmp_path, monkeypatch, op):
    from kimi_infra.stores import StoreError

    project = make_project(tmp_path, "inline")
    spec = seed(project, "staging")
    real_read, real_write = deploy.current_keys, deploy.write_targets
    written: list[bool] = []

    def write_then_lose_the_store(*args, **kwargs):
        deployment = real_write(*args, **kwargs)
        written.append(True)
        return deployment

    def current_keys(*args, **kwargs):
        if written:
            raise StoreError("cannot reach Secrets Manager", where="kimi-infra/staging/moonshot",
                             fix="check the network")
        return real_read(*args, **kwargs)

    monkeypatch.setattr(deploy, "write_targets", write_then_lose_the_store)
    monkeypatch.setattr(deploy, "current_keys", current_keys)
    if op == "deploy":
        result = run_door("deploy", spec, project, monkeypatch)
        assert result.returncode == 2
        message = result.stderr.strip().splitlines()[-1]
    else:
        with pytest.raises(rot.RotationError) as refused:
            run_op("rotate", spec, project)
        message = str(refused.value)
    assert written and "every target was written, but the keys could not be read again" in message, message
    assert "cannot reach Secrets Manager" in message and "not every target was written" not in message


def test_the_old_key_is_gone_after_two_rotations(tmp_path):
    """Guards the check above: after a pair, the seeded key is no longer current nor previous."""
    project = make_project(tmp_path, "inline")
    spec = seed(project, "dev")

    run_pair(project, "dev", 0)

    assert OLD["moonshot"] not in stages(spec, project).values()
