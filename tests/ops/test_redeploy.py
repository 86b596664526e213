"""`history --redeploy REV`: an earlier revision of an S3 or SSM target put back, after the diff
and --yes; file targets (hashes only) cannot go back. moto_server, real subprocess CLI runs."""

from __future__ import annotations

import json

import boto3
import pytest

from tests.support.history import history

OLD_WINDOW, NEW_WINDOW = "contextWindow: 131072", "contextWindow: 200000"


def revisions(project, name):
    return [r["revision"] for r in json.loads(history(project, "--target", name, "--json").stdout)["targets"][0]
            ["revisions"]]


def current_text(name):
    if name == "bucket":
        answer = boto3.client("s3", region_name="us-east-1").get_object(
            Bucket="kimi-infra-lab-config", Key="openclaw/openclaw.json5")
        return answer["Body"].read().decode()
    return boto3.client("ssm", region_name="us-east-1").get_parameter(
        Name="/kimi-infra/lab/openclaw-config")["Parameter"]["Value"]


@pytest.mark.parametrize("name", ["bucket", "parameter"])
def test_an_earlier_revision_is_put_back_with_yes(two_deploys, name):
    project, _ = two_deploys
    oldest = revisions(project, name)[-1]
    assert NEW_WINDOW in current_text(name)

    refused = history(project, "--target", name, "--redeploy", oldest)
    assert refused.returncode == 2 and "pass --yes" in refused.stderr
    assert f"-            {NEW_WINDOW}," in refused.stdout and f"+            {OLD_WINDOW}," in refused.stdout
    assert NEW_WINDOW in current_text(name)  # nothing written

    done = history(project, "--target", name, "--redeploy", oldest, "--yes", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["outcome"] == "written"
    assert OLD_WINDOW in current_text(name)


def test_an_unknown_revision_and_a_file_target_are_refused(two_deploys):
    project, _ = two_deploys
    unknown = history(project, "--target", "parameter", "--redeploy", "99", "--yes")
    assert unknown.returncode == 2 and "has no revision '99'" in unknown.stderr
    local = history(project, "--target", "local", "--redeploy", "1", "--yes")
    assert local.returncode == 2 and "file targets keep hashes only" in local.stderr
    no_target = history(project, "--redeploy", "1")
    assert no_target.returncode == 2 and "--redeploy needs --target" in no_target.stderr
