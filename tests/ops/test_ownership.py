"""`deploy` removes and first-overwrites only what it wrote (issue 20, finding 2 and two of finding 9).

`--prune` removes a location the stack no longer names only if it passes the path rules, no
stack names it now, and it holds what deploy wrote there; the deploy record is a validated model
(an edited or broken entry is refused with one line, exit 2); a first deploy over a file kimi-infra
never wrote is drift. Real subprocess CLI runs on real files; nothing patched.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.support.project import dev_like, make_project, run_cli

TARGET = "out/openclaw.json5"


def deploy(project: Path, stack: str, *args: str):
    return run_cli("--project-dir", str(project), "deploy", "--stack", stack, *args)


def set_targets(project: Path, stack: str, targets: list[dict]) -> None:
    (project / "stacks" / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": dev_like(targets=targets)}))


def file_target(path: str, name: str = "local") -> dict:
    return {"name": name, "kind": "file", "path": path}


def record(project: Path, stack: str) -> Path:
    return project / ".kimi-infra" / stack / "deployed.json"


def one_line(result) -> str:
    """The one error line (progress lines may come before it); no traceback."""
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    return errors[0]


def test_prune_keeps_a_file_another_stack_deployed_since(tmp_path):
    project = make_project(tmp_path, {"a": dev_like(), "b": dev_like(targets=[file_target("out/b.json5")])})
    assert deploy(project, "a").returncode == 0
    set_targets(project, "a", [file_target("out/a-moved.json5")])  # A moves off the path ...
    set_targets(project, "b", [file_target(TARGET)])  # ... and B deploys there (over A's old file: confirmed)
    assert deploy(project, "b", "--yes").returncode == 0
    b_config = (project / TARGET).read_text()

    pruned = deploy(project, "a", "--prune")
    assert pruned.returncode == 1, pruned.stderr
    assert (project / TARGET).read_text() == b_config  # B's live config is still there
    assert "stack b (target local) names it now" in one_line(pruned)
    assert (project / "out" / "a-moved.json5").exists()  # A's own deploy went ahead
    assert str(project / TARGET) not in record(project, "a").read_text()  # not ours: left the record
    assert deploy(project, "a", "--prune").returncode == 0  # nothing left to refuse


def test_prune_keeps_an_edited_file_unless_confirmed(tmp_path):
    project = make_project(tmp_path, {"t": dev_like()})
    assert deploy(project, "t").returncode == 0
    set_targets(project, "t", [file_target("out/moved.json5")])
    edited = (project / TARGET).read_text().replace('"merge"', '"replace"')  # still the stack's config, edited
    (project / TARGET).write_text(edited)

    preview = deploy(project, "t", "--prune", "--preview")
    assert "kept unless confirmed (--prune --yes)" in preview.stdout
    kept = deploy(project, "t", "--prune")
    assert kept.returncode == 1 and "content kimi-infra did not write there" in one_line(kept)
    assert (project / TARGET).read_text() == edited

    confirmed = deploy(project, "t", "--prune", "--yes", "--json")
    assert confirmed.returncode == 0, confirmed.stderr
    assert json.loads(confirmed.stdout)["removedFromStack"][0]["pruned"] is True
    assert not (project / TARGET).exists()


def test_prune_removes_what_it_wrote(tmp_path):
    project = make_project(tmp_path, {"t": dev_like()})
    assert deploy(project, "t").returncode == 0
    set_targets(project, "t", [file_target("out/moved.json5")])
    assert deploy(project, "t", "--prune").returncode == 0
    assert not (project / TARGET).exists()


def edit_entry(project: Path, stack: str, location: str, spec: dict) -> None:
    """Point the record's only entry at `location` / `spec`, as an attacker editing the file would."""
    document = json.loads(record(project, stack).read_text())
    (entry,) = document["targets"].values()
    document["targets"] = {location: {**entry, "spec": spec}}
    record(project, stack).write_text(json.dumps(document))


@pytest.mark.parametrize("where", ["outside", "key store"])
def test_an_edited_record_entry_never_deletes_a_file_that_is_not_ours(tmp_path, where):
    project = make_project(tmp_path / "p", {"t": dev_like(), "dev": dev_like(targets=[file_target("out/dev.json5")])})
    assert run_cli("--project-dir", str(project), "set-key", "--stack", "dev", "-p", "moonshot", "--key-stdin",
                   "--skip-verify", stdin="sk-dev-moonshot-0123456789abcdefghij\n").returncode == 0
    victim = (project / ".kimi-infra" / "dev" / "secrets.json" if where == "key store"
              else tmp_path / "outside" / "notes.json")
    victim.parent.mkdir(parents=True, exist_ok=True)
    if not victim.exists():
        victim.write_text("{}\n")
    before = victim.read_bytes()
    assert deploy(project, "t").returncode == 0
    edit_entry(project, "t", str(victim), file_target(str(victim)))

    pruned = deploy(project, "t", "--prune", "--yes")
    assert pruned.returncode == 1, pruned.stderr
    assert victim.read_bytes() == before
    assert str(victim) in one_line(pruned)


@pytest.mark.parametrize(("damage", "problem"), [
    (lambda entry: entry.pop("spec"), "spec: Field required"),
    (lambda entry: entry["spec"].update(path="elsewhere.json5"), "its spec names"),
    (lambda entry: entry["spec"].update(kind="ftp"), "spec"),
])
def test_a_broken_record_entry_is_refused_in_one_line(tmp_path, damage, problem):
    project = make_project(tmp_path, {"t": dev_like()})
    assert deploy(project, "t").returncode == 0
    set_targets(project, "t", [file_target("out/moved.json5")])
    document = json.loads(record(project, "t").read_text())
    damage(next(iter(document["targets"].values())))
    record(project, "t").write_text(json.dumps(document))

    refused = deploy(project, "t", "--prune")
    assert refused.returncode == 2
    line = one_line(refused)
    assert str(record(project, "t")) in line and problem in line and "fix:" in line
    assert (project / TARGET).exists() and not (project / "out" / "moved.json5").exists()  # nothing written


def test_an_old_record_is_read_and_upgraded(tmp_path):
    project = make_project(tmp_path, {"t": dev_like()})
    assert deploy(project, "t").returncode == 0
    document = json.loads(record(project, "t").read_text())
    assert document["version"] == 2
    old = {"targets": {location: {"name": e["name"], "spec": e["spec"], "holdsKeys": False,
                                  "sha256": e["contentHash"]} for location, e in document["targets"].items()}}
    record(project, "t").write_text(json.dumps(old))  # as kimi-infra 0.2.0 wrote it
    set_targets(project, "t", [file_target("out/moved.json5")])
    assert deploy(project, "t", "--prune").returncode == 0  # its hash still proves the file is ours
    assert not (project / TARGET).exists()
    assert json.loads(record(project, "t").read_text())["version"] == 2


def test_a_first_deploy_over_a_hand_kept_file_asks(tmp_path):
    project = make_project(tmp_path, {"t": dev_like()})
    (project / "out").mkdir()
    (project / TARGET).write_text('{ gateway: { mode: "local" } } // kept by hand\n')

    refused = deploy(project, "t")
    assert refused.returncode == 1
    assert "never wrote" in one_line(refused) and "--yes" in refused.stderr
    assert "exists, but deploy never wrote it" in refused.stdout
    assert "+" in refused.stdout and "kept by hand" in refused.stdout  # the diff is shown
    assert "kept by hand" in (project / TARGET).read_text() and not record(project, "t").exists()

    assert deploy(project, "t", "--yes").returncode == 0
    assert "kept by hand" not in (project / TARGET).read_text()
    assert deploy(project, "t").returncode == 0  # ours now


def test_a_first_deploy_over_the_same_content_needs_no_confirmation(tmp_path):
    project = make_project(tmp_path, {"t": dev_like()})
    rendered = run_cli("--project-dir", str(project), "render", "--stack", "t", "--out", "-")
    assert rendered.returncode == 0, rendered.stderr
    (project / "out").mkdir()
    (project / TARGET).write_text(rendered.stdout)
    assert deploy(project, "t").returncode == 0


@pytest.mark.usefixtures("aws")
@pytest.mark.parametrize("kind", ["s3", "ssm"])
def test_a_first_deploy_over_someone_elses_object_or_parameter_asks(tmp_path, kind):
    import boto3

    from tests.support.moto import create_bucket

    theirs = '{ gateway: { mode: "remote" } } // someone else\'s\n'
    if kind == "s3":
        target = {"name": "remote", "kind": "s3", "bucket": create_bucket("theirs-config"), "key": "openclaw.json5",
                  "region": "us-east-1"}
        boto3.client("s3", region_name="us-east-1").put_object(Bucket="theirs-config", Key="openclaw.json5",
                                                               Body=theirs.encode())
    else:
        target = {"name": "remote", "kind": "ssm", "parameter": "/theirs/openclaw", "region": "us-east-1"}
        boto3.client("ssm", region_name="us-east-1").put_parameter(Name="/theirs/openclaw", Value=theirs,
                                                                   Type="String")
    project = make_project(tmp_path, {"t": dev_like(targets=[target])})

    refused = deploy(project, "t")
    assert refused.returncode == 1 and "never wrote" in one_line(refused)
    preview = json.loads(deploy(project, "t", "--preview", "--json").stdout)["targets"][0]
    assert preview["foreign"] is True and preview["drift"] is True and "someone else" in preview["diff"]
    assert deploy(project, "t", "--yes").returncode == 0
