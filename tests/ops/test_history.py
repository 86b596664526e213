"""`history`: every deploy leaves a revision on file, S3 and SSM targets, newest first."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from tests.support.history import LOCATIONS, history, write_stack


@pytest.mark.parametrize("name", ["local", "bucket", "parameter"])
def test_history_lists_both_deploys_newest_first(two_deploys, name: str):
    project, (first, second) = two_deploys
    result = history(project, "--target", name)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert all(line.startswith(f"target {name}  {LOCATIONS[name]}  revision ") for line in lines)
    assert lines[0].endswith(f"  sha256 {second[:12]}")
    assert lines[1].endswith(f"  sha256 {first[:12]}")
    assert result.stderr.splitlines() == [f"reading history of {name} ({_location(project, name)})"]


def test_a_version_written_by_hand_shows_with_an_unknown_hash(two_deploys):
    project, (_, second) = two_deploys
    boto3.client("s3", region_name="us-east-1").put_object(
        Bucket="kimi-infra-lab-config", Key="openclaw/openclaw.json5", Body=b"{}\n")
    lines = history(project, "--target", "bucket").stdout.splitlines()
    assert len(lines) == 3
    assert lines[0].endswith("  sha256 unknown (not written by kimi-infra)")
    assert lines[1].endswith(f"  sha256 {second[:12]}")


def test_history_json_has_every_target(two_deploys):
    project, (first, second) = two_deploys
    result = history(project, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["stack"] == "lab"
    assert [t["name"] for t in report["targets"]] == ["local", "bucket", "parameter"]
    for target in report["targets"]:
        assert target["location"] == _location(project, target["name"])
        assert [r["sha256"] for r in target["revisions"]] == [second, first]
        for revision in target["revisions"]:
            assert revision["revision"]
            assert revision["time"].endswith("Z")
    parameter = report["targets"][2]["revisions"]
    assert [r["revision"] for r in parameter] == ["2", "1"]  # SSM numbers its versions


def test_an_unknown_target_is_an_error_naming_the_targets(tmp_path: Path):
    project = write_stack(tmp_path, 131_072)
    result = history(project, "--target", "nope")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip() == ("error: stacks/Pulumi.lab.yaml: no target named 'nope'; "
                                     "fix: use one of: local, bucket, parameter")


def test_a_file_target_never_deployed_has_no_revisions(tmp_path: Path):
    project = write_stack(tmp_path, 131_072)
    result = history(project, "--target", "local")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "target local  out/openclaw.json5  no revisions recorded\n"


def _location(project: Path, name: str) -> str:
    return str(project / LOCATIONS[name]) if name == "local" else LOCATIONS[name]
