"""Two `rotate` runs at once on the same stack and provider never lose a key.

Each pair starts two real CLI subprocesses together (inline mode, so targets hold the key too).
Either both finish, one after the other (current and previous are the two new keys), or one is
refused with one line and the other's key is current; the inline targets hold the current key.
Local store: 20 pairs (a rotation lock serialises them). Secrets Manager on moto_server: 10 pairs
(a compare-and-set on AWSCURRENT decides).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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


@pytest.mark.usefixtures("aws")
def test_a_key_made_current_between_our_check_and_our_write_is_what_the_targets_hold(tmp_path, monkeypatch):
    """The lost update the 10 pairs once found (1 pair in 10, `make test`), made certain: rotation B runs whole
    after A has checked that its key is still current and before A writes its targets, so A's write (of its
    own key, with no conflict: it reads what B wrote) lands last while B's key is current."""
    project = make_project(tmp_path, "inline")
    spec = seed(project, "staging")
    first, second = (f"sk-race-{side}-{'0123456789' * 3}" for side in "ab")
    write_targets = rot.write_targets

    def second_rotation_then_write(*args, **kwargs):
        monkeypatch.setattr(rot, "write_targets", write_targets)  # B, and A's later writes, run as they are
        rot.rotate(spec, project, "moonshot", Secret(second), verify_url=None, say=lambda _: None)
        write_targets(*args, **kwargs)

    monkeypatch.setattr(rot, "write_targets", second_rotation_then_write)
    lines: list[str] = []
    rot.rotate(spec, project, "moonshot", Secret(first), verify_url=None, say=lines.append)

    now = stages(spec, project)
    assert (now["current"], now["previous"]) == (second, first)
    assert all(second in (text or "") for text in deployed_texts(spec, project))
    assert any("a newer key became current while this run wrote the targets" in line for line in lines), lines


def test_the_old_key_is_gone_after_two_rotations(tmp_path):
    """Guards the check above: after a pair, the seeded key is no longer current nor previous."""
    project = make_project(tmp_path, "inline")
    spec = seed(project, "dev")

    run_pair(project, "dev", 0)

    assert OLD["moonshot"] not in stages(spec, project).values()
