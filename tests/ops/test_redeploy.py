"""`history --redeploy REV`: an earlier revision of an S3 or SSM target put back, after the diff
and --yes; file targets (hashes only) cannot go back. moto_server, real subprocess CLI runs."""

from __future__ import annotations

import hashlib
import json

import boto3
import pytest

from kimi_infra.deploy import deploy_all
from kimi_infra.ops import rotate as rot
from kimi_infra.secret import Secret
from kimi_infra.stackfile import load_stack
from kimi_infra.stores import open_store
from kimi_infra.targets.s3 import HASH_METADATA
from tests.support.history import TARGETS, history
from tests.support.moto import create_bucket
from tests.support.project import dev_like, make_project
from tests.support.rotation import NEW, OLD

OLD_WINDOW, NEW_WINDOW = "contextWindow: 131072", "contextWindow: 200000"


def revisions(project, name):
    return [r["revision"] for r in json.loads(history(project, "--target", name, "--json").stdout)["targets"][0]
            ["revisions"]]


def write_stack_inline(project, context_window):
    """The inline lab stack again, with a model override that makes the next deploy differ."""
    overrides = {"moonshot/kimi-k2-0905-preview": {"contextWindow": context_window}}
    return make_project(project, {"lab": dev_like(targets=TARGETS[1:], keyMode="inline", modelOverrides=overrides)})


def current_text(name):
    if name == "bucket":
        answer = boto3.client("s3", region_name="us-east-1").get_object(
            Bucket="kimi-infra-lab-config", Key="openclaw/openclaw.json5")
        return answer["Body"].read().decode()
    return boto3.client("ssm", region_name="us-east-1").get_parameter(
        Name="/kimi-infra/lab/openclaw-config", WithDecryption=True)["Parameter"]["Value"]


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


# --- issue 20, finding 3: a redeploy never brings back a key, nor a revision we did not write ---


@pytest.fixture
def inline_lab(aws, tmp_path):
    """The lab stack, inline (keys in the configs), on its S3 and SSM targets, deployed once with the old keys."""
    create_bucket("kimi-infra-lab-config")
    project = make_project(tmp_path, {"lab": dev_like(targets=TARGETS[1:], keyMode="inline")})
    spec = load_stack(project, "lab").spec
    for name in spec.providers:
        open_store(spec, name, project).ensure(Secret(OLD[name]))
    deploy_all(spec, project)
    return project, spec


def refused(result, problem):
    """Exit 2 with one error line saying `problem`."""
    assert result.returncode == 2, result.stdout + result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("error")] == \
        [line for line in result.stderr.splitlines() if problem in line]
    return True


@pytest.mark.parametrize("name", ["bucket", "parameter"])
def test_a_revision_with_a_rotated_out_key_is_refused(inline_lab, name):
    project, spec = inline_lab
    before_rotation = revisions(project, name)[0]
    rot.rotate(spec, project, "moonshot", Secret(NEW["moonshot"]), verify_url=None, say=lambda _: None)
    assert NEW["moonshot"] in current_text(name)

    result = history(project, "--target", name, "--redeploy", before_rotation, "--yes")
    assert refused(result, "holds a key that is no longer current")
    assert OLD["moonshot"] not in result.stdout + result.stderr and NEW["moonshot"] in current_text(name)

    # A revision written since the rotation holds today's keys: it still goes back.
    since_rotation = revisions(project, name)[0]
    deploy_all(load_stack(write_stack_inline(project, 200_000), "lab").spec, project)
    assert NEW_WINDOW in current_text(name)
    done = history(project, "--target", name, "--redeploy", since_rotation, "--yes")
    assert done.returncode == 0, done.stderr
    assert NEW_WINDOW not in current_text(name) and NEW["moonshot"] in current_text(name)


def ours_and_theirs(name):
    """What the target holds now, and the same config pointing Moonshot at someone else's endpoint."""
    ours = current_text(name)
    other = ours.replace("https://api.moonshot.ai/v1", "https://attacker.example/v1")
    assert other != ours
    return ours, other


def test_an_s3_version_kimi_infra_did_not_write_is_refused(inline_lab):
    project, _ = inline_lab
    ours, other = ours_and_theirs("bucket")
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.put_object(Bucket="kimi-infra-lab-config", Key="openclaw/openclaw.json5", Body=other.encode())
    s3.put_object(Bucket="kimi-infra-lab-config", Key="openclaw/openclaw.json5", Body=ours.encode())
    unsigned = revisions(project, "bucket")[1]
    assert refused(history(project, "--target", "bucket", "--redeploy", unsigned, "--yes"),
                   "was not written by kimi-infra (carries no content hash of ours)")

    # Metadata copied from our scheme, but a plain sha256: only the stack's salt makes a keyed hash.
    s3.put_object(Bucket="kimi-infra-lab-config", Key="openclaw/openclaw.json5", Body=other.encode(),
                  Metadata={HASH_METADATA: hashlib.sha256(other.encode()).hexdigest()})
    s3.put_object(Bucket="kimi-infra-lab-config", Key="openclaw/openclaw.json5", Body=ours.encode())
    forged = revisions(project, "bucket")[1]
    assert refused(history(project, "--target", "bucket", "--redeploy", forged, "--yes"),
                   "has a content hash that is not its content's")
    assert current_text("bucket") == ours


def test_an_ssm_version_kimi_infra_did_not_write_is_refused(inline_lab):
    project, _ = inline_lab
    ours, other = ours_and_theirs("parameter")
    ssm = boto3.client("ssm", region_name="us-east-1")
    # Put without a description: the version keeps our previous description, whose hash is not its text's.
    ssm.put_parameter(Name="/kimi-infra/lab/openclaw-config", Value=other, Type="SecureString", Overwrite=True)
    ssm.put_parameter(Name="/kimi-infra/lab/openclaw-config", Value=ours, Type="SecureString", Overwrite=True,
                      Description="hand-kept")
    foreign, hand_kept = revisions(project, "parameter")[1], revisions(project, "parameter")[0]
    assert refused(history(project, "--target", "parameter", "--redeploy", foreign, "--yes"),
                   "was not written by kimi-infra")
    assert refused(history(project, "--target", "parameter", "--redeploy", hand_kept, "--yes"),
                   "carries no content hash of ours")
    assert current_text("parameter") == ours
