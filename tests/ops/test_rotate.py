"""`rotate`, `rollback`, `catalog-check` against a real moto_server and a real fake provider on loopback.

Scratch projects copy the real stack files (staging and prod on AWS, prod-cn on aws-cn, dev on
the local store) and switch their key mode where a test needs inline targets. Keys are seeded as
`pulumi up` would (store.ensure, deploy_all) before each rotation.
"""

from __future__ import annotations

import hashlib
import logging
import re
import traceback
from pathlib import Path

import pytest

from kimi_infra.catalog import PROVIDERS
from kimi_infra.content_hash import PLAIN
from kimi_infra.deploy import content_hasher
from kimi_infra.errors import KimiInfraError
from kimi_infra.models import StackSpec
from kimi_infra.ops import rotate as rot
from kimi_infra.ops.verify import VerifyError, compare_ids, get_models
from kimi_infra.secret import Secret
from kimi_infra.stores import open_store
from kimi_infra.targets import open_stack_target
from tests.ops.faults import InjectedFault, crashing_after, run_crashing_cli
from tests.support.fake_provider import FakeProvider
from tests.support.ports import free_port
from tests.support.project import CANARY_KEY, dev_like, run_cli
from tests.support.project import make_project as write_project
from tests.support.rotation import NEW, OLD, deployed_texts, seed, stages
from tests.support.rotation import rotation_project as make_project

BAD = "sk-revoked-4444444444444444444444444444"


# --- fixtures and helpers --------------------------------------------------------------------


@pytest.fixture
def fake() -> FakeProvider:
    """The fake provider; each endpoint accepts the old and new keys of its own provider only."""
    with FakeProvider() as server:
        for name in PROVIDERS:
            server.accept(name, OLD[name], NEW[name])
        yield server


def labels(spec: StackSpec, project: Path, provider: str = "moonshot") -> list[tuple]:
    """Version ids and their stages (moto rewrites creation dates on relabelling, so not those)."""
    return [(v.version_id, v.stages) for v in open_store(spec, provider, project).describe().versions]


def revisions(spec: StackSpec, project: Path) -> list:
    hasher = content_hasher(spec, project)
    return [open_stack_target(spec, target, project, hasher).read() for target in spec.targets]


def key_file(folder: Path, key: str, mode: int = 0o600) -> Path:
    path = folder / "new-key.txt"
    path.write_text(key + "\n")
    path.chmod(mode)
    return path


def cli(project: Path, *args: str, env: dict | None = None, stdin: str | None = None):
    return run_cli("--project-dir", str(project), *args, env=env, stdin=stdin)


def rotate_cli(project: Path, fake: FakeProvider, stack: str, key: str | None, *extra: str,
               provider: str = "moonshot", crash_after: str | None = None):
    """`rotate` in a subprocess, the key on stdin, verified against the fake; with `crash_after`
    the run stops right after that step."""
    key_args = ("--key-stdin",) if key is not None else ()
    args = ("--project-dir", str(project), "rotate", "-s", stack, "-p", provider, "--verify-base-url",
            fake.base_url(provider), *key_args, *extra)
    if crash_after:
        return run_crashing_cli(crash_after, *args, stdin=key)
    return run_cli(*args, stdin=key)


def rotate_here(spec: StackSpec, project: Path, fake: FakeProvider, key: str, provider: str = "moonshot") -> list[str]:
    """The same rotation in-process; returns the progress lines."""
    lines: list[str] = []
    rot.rotate(spec, project, provider, Secret(key), verify_url=fake.base_url(provider), say=lines.append)
    return lines


# --- 1. rotate: inline targets re-written, other modes untouched ---------------------------


@pytest.mark.parametrize("stack", ["staging", "prod-cn", "dev"])
def test_rotate_rewrites_every_inline_target(aws, fake, tmp_path, stack):
    project = make_project(tmp_path, "inline")
    spec = seed(project, stack)

    result = rotate_cli(project, fake, stack, NEW["moonshot"])

    assert result.returncode == 0, result.stderr
    assert stages(spec, project) == {"current": NEW["moonshot"], "pending": None, "previous": OLD["moonshot"]}
    for text in deployed_texts(spec, project):
        assert NEW["moonshot"] in text and OLD["moonshot"] not in text
        if "kimi-code" in spec.providers:
            assert OLD["kimi-code"] in text  # the other provider's key stays
    progress = result.stderr
    assert f"{stack}/moonshot: staged pending version kr-" in progress
    assert f"verified against {fake.base_url('moonshot')} (HTTP 200)" in progress
    assert f"{stack}/moonshot: promoted" in progress
    for target in spec.targets:
        assert f"{open_stack_target(spec, target, project, PLAIN).location}: written" in progress
    assert result.stdout == ""


@pytest.mark.parametrize("stack", ["staging", "prod-cn", "dev", "prod"])
def test_rotate_in_reference_mode_rewrites_no_target(aws, fake, tmp_path, stack):
    project = make_project(tmp_path, "reference")
    spec = seed(project, stack)
    before = revisions(spec, project)

    result = rotate_cli(project, fake, stack, NEW["moonshot"])

    assert result.returncode == 0, result.stderr
    assert stages(spec, project) == {"current": NEW["moonshot"], "pending": None, "previous": OLD["moonshot"]}
    assert revisions(spec, project) == before
    assert "nothing to re-write" in result.stderr and "${MOONSHOT_API_KEY}" in result.stderr


def test_rotate_in_secretref_mode_prints_the_reload_hint(aws, fake, tmp_path):
    project = make_project(tmp_path, "secretref")
    spec = seed(project, "staging")
    before = revisions(spec, project)

    result = rotate_cli(project, fake, "staging", NEW["kimi-code"], provider="kimi-code")

    assert result.returncode == 0, result.stderr
    assert stages(spec, project, "kimi-code")["current"] == NEW["kimi-code"]
    assert revisions(spec, project) == before
    assert "run `openclaw secrets reload` on each gateway" in result.stderr


@pytest.mark.parametrize(("mode", "stack", "target_writes"), [("reference", "prod", 0), ("inline", "staging", 1)])
def test_a_rotation_costs_at_most_9_secrets_manager_calls(aws, fake, tmp_path, aws_calls, mode, stack,
                                                          target_writes):
    project = make_project(tmp_path, mode)
    spec = seed(project, stack)
    fake.accept("moonshot", BAD)
    rotate_here(spec, project, fake, NEW["moonshot"])  # the first after `pulumi up` reads its value once more
    aws_calls.clear()

    rotate_here(spec, project, fake, BAD)  # current's version id is a token now: no value read

    secrets_manager = [op for service, op, _ in aws_calls.calls if service == "secretsmanager"]
    rerendered = len(spec.providers) if mode == "inline" else 0  # deploy_all reads each current key again
    # 8 for the rotation itself, +1 to read the store's salt (issue 13: keyed version ids and, reused
    # for the inline re-write, keyed content hashes)
    assert len(secrets_manager) <= 9 + rerendered, secrets_manager
    target_calls = [op for service, op, _ in aws_calls.calls if service != "secretsmanager"]
    assert [op for op in target_calls if op.startswith("Put")] == ["PutObject"] * target_writes


# --- 2. a rejected key ----------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["staging", "dev"])
def test_a_rejected_key_changes_nothing(aws, fake, tmp_path, stack):
    project = make_project(tmp_path, "inline")
    spec = seed(project, stack)
    before = labels(spec, project), deployed_texts(spec, project)

    result = rotate_cli(project, fake, stack, BAD)

    assert result.returncode == 2
    url = f"{fake.base_url('moonshot')}/models"
    assert result.stderr.splitlines()[-1] == (
        f"error: moonshot API: moonshot rejected the key at {url} (HTTP 401); fix: check the key is a Moonshot Open "
        "Platform key (Kimi Code keys do not work here)")
    assert "pending version discarded, current key unchanged" in result.stderr
    assert stages(spec, project) == {"current": OLD["moonshot"], "pending": None, "previous": None}
    assert (labels(spec, project), deployed_texts(spec, project)) == before


def test_a_kimi_code_key_fails_at_the_moonshot_endpoint(aws, fake, tmp_path):
    project = make_project(tmp_path, "inline")
    spec = seed(project, "staging")
    fake.accept("kimi-code", "sk-kimi-another-555555555555555555555")

    result = rotate_cli(project, fake, "staging", "sk-kimi-another-555555555555555555555")

    assert result.returncode == 2
    assert "moonshot rejected the key" in result.stderr and "(Kimi Code keys do not work here)" in result.stderr
    assert stages(spec, project) == {"current": OLD["moonshot"], "pending": None, "previous": None}


def test_the_other_providers_current_key_is_refused_before_any_write(aws, fake, tmp_path, aws_calls):
    project = make_project(tmp_path, "inline")
    spec = seed(project, "staging")
    aws_calls.clear()

    with pytest.raises(KimiInfraError, match="the new key is kimi-code's current key in this stack") as error:
        rotate_here(spec, project, fake, OLD["kimi-code"])

    assert "not interchangeable" in str(error.value)
    assert aws_calls.writes() == [] and fake.requests == []
    assert stages(spec, project)["pending"] is None


def test_an_unreachable_endpoint_fails_clearly(aws, tmp_path):
    project = make_project(tmp_path, "inline")
    spec = seed(project, "staging")
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there

    result = cli(project, "rotate", "-s", "staging", "-p", "moonshot", "--key-stdin", "--verify-base-url", url,
                 stdin=NEW["moonshot"])

    assert result.returncode == 2
    assert result.stderr.splitlines()[-1].startswith(f"error: moonshot API: cannot reach moonshot at {url}/models (")
    assert result.stderr.rstrip().endswith("fix: check network or use --verify-base-url / --skip-verify")
    assert stages(spec, project) == {"current": OLD["moonshot"], "pending": None, "previous": None}


def test_skip_verify_rotates_without_asking_the_provider(aws, fake, tmp_path):
    project = make_project(tmp_path, "inline")
    spec = seed(project, "dev")

    result = cli(project, "rotate", "-s", "dev", "-p", "moonshot", "--key-stdin", "--skip-verify", stdin=BAD)

    assert result.returncode == 0, result.stderr
    assert "not verified (--skip-verify)" in result.stderr
    assert fake.requests == []
    assert stages(spec, project)["current"] == BAD


# --- 3. faults after each step, then --resume ------------------------------------------------


def assert_consistent(spec: StackSpec, project: Path) -> None:
    """Between steps: current is the old or the new key, targets hold one of them."""
    assert stages(spec, project)["current"] in (OLD["moonshot"], NEW["moonshot"])
    for text in deployed_texts(spec, project):
        assert (OLD["moonshot"] in text) != (NEW["moonshot"] in text)


def assert_converged(spec: StackSpec, project: Path) -> None:
    assert stages(spec, project) == {"current": NEW["moonshot"], "pending": None, "previous": OLD["moonshot"]}
    for text in deployed_texts(spec, project):
        assert NEW["moonshot"] in text and OLD["moonshot"] not in text


@pytest.mark.parametrize("step", rot.STEPS)
def test_a_crash_after_any_step_is_finished_by_resume(aws, fake, tmp_path, step):
    project = make_project(tmp_path, "inline")
    spec = seed(project, "staging")

    crashed = rotate_cli(project, fake, "staging", NEW["moonshot"], crash_after=step)
    assert crashed.returncode == 2
    assert f"error: stopped after step {step!r}" in crashed.stderr
    assert_consistent(spec, project)

    resumed = rotate_cli(project, fake, "staging", None, "--resume")  # no key needed
    assert resumed.returncode == 0, resumed.stderr
    assert_converged(spec, project)


@pytest.mark.parametrize("step", rot.STEPS)
def test_a_crash_after_any_step_is_finished_by_running_again(fake, tmp_path, step):
    project = make_project(tmp_path, "inline")
    spec = seed(project, "dev")
    with crashing_after(step), pytest.raises(InjectedFault):
        rotate_here(spec, project, fake, NEW["moonshot"])
    assert_consistent(spec, project)

    rotate_here(spec, project, fake, NEW["moonshot"])  # the same key: the same token, the same rotation
    assert_converged(spec, project)


def test_a_second_rotation_is_refused_while_one_is_pending(aws, fake, tmp_path):
    project = make_project(tmp_path, "inline")
    spec = seed(project, "staging")
    rotate_cli(project, fake, "staging", NEW["moonshot"], crash_after="stage")
    pending = open_store(spec, "moonshot", project).describe().version_in("pending").version_id

    second = rotate_cli(project, fake, "staging", BAD)

    assert second.returncode == 2
    assert f"error: staging/moonshot: a rotation is already in progress (pending version {pending}); fix: finish " \
           "it with `python -m kimi_infra rotate --stack staging --provider moonshot --resume`" in second.stderr
    assert stages(spec, project) == {"current": OLD["moonshot"], "pending": NEW["moonshot"], "previous": None}
    assert rotate_cli(project, fake, "staging", None, "--resume").returncode == 0
    assert_converged(spec, project)


def test_resume_discards_a_pending_key_the_provider_rejects(aws, fake, tmp_path):
    project = make_project(tmp_path, "inline")
    spec = seed(project, "staging")
    rotate_cli(project, fake, "staging", NEW["moonshot"], crash_after="stage")
    fake.behaviour.keys["moonshot"].discard(NEW["moonshot"])  # revoked meanwhile

    result = rotate_cli(project, fake, "staging", None, "--resume")

    assert result.returncode == 2 and "moonshot rejected the key" in result.stderr
    assert stages(spec, project) == {"current": OLD["moonshot"], "pending": None, "previous": None}


def test_running_a_finished_rotation_again_changes_nothing(aws, fake, tmp_path, aws_calls):
    project = make_project(tmp_path, "inline")
    spec = seed(project, "staging")
    rotate_here(spec, project, fake, NEW["moonshot"])
    aws_calls.clear()

    lines = rotate_here(spec, project, fake, NEW["moonshot"])

    assert "staging/moonshot: the key is already current; nothing to rotate" in lines
    assert aws_calls.writes() == []
    assert stages(spec, project)["previous"] == OLD["moonshot"]


def test_rotating_to_the_seeded_current_key_keeps_the_previous_one(aws, fake, tmp_path):
    project = make_project(tmp_path, "inline")
    spec = seed(project, "staging")
    rotate_here(spec, project, fake, NEW["moonshot"])
    rot.rollback(spec, project, "moonshot", say=lambda _: None)  # OLD is current again: its version is ensure's

    lines = rotate_here(spec, project, fake, OLD["moonshot"])

    assert "staging/moonshot: the key is already current; nothing to rotate" in lines
    assert stages(spec, project)["previous"] == NEW["moonshot"]


# --- 4. rollback ----------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["staging", "prod-cn", "dev"])
def test_rollback_restores_the_old_key_and_rewrites_inline_targets(aws, fake, tmp_path, stack):
    project = make_project(tmp_path, "inline")
    spec = seed(project, stack)
    assert rotate_cli(project, fake, stack, NEW["moonshot"]).returncode == 0

    result = cli(project, "rollback", "-s", stack, "-p", "moonshot")

    assert result.returncode == 0, result.stderr
    assert stages(spec, project) == {"current": OLD["moonshot"], "pending": None, "previous": NEW["moonshot"]}
    for text in deployed_texts(spec, project):
        assert OLD["moonshot"] in text and NEW["moonshot"] not in text
    assert f"{stack}/moonshot: rolled back" in result.stderr and ": written" in result.stderr


def test_rollback_in_secretref_mode_prints_the_reload_hint(aws, fake, tmp_path):
    project = make_project(tmp_path, "secretref")
    spec = seed(project, "prod")
    rotate_here(spec, project, fake, NEW["moonshot"])

    result = cli(project, "rollback", "-s", "prod", "-p", "moonshot")

    assert result.returncode == 0, result.stderr
    assert stages(spec, project)["current"] == OLD["moonshot"]
    assert "openclaw secrets reload" in result.stderr


def test_rollback_is_refused_during_a_rotation_and_without_a_previous_key(aws, fake, tmp_path):
    project = make_project(tmp_path, "inline")
    spec = seed(project, "staging")

    nothing = cli(project, "rollback", "-s", "staging", "-p", "moonshot")
    assert nothing.returncode == 2 and "no previous version to roll back to" in nothing.stderr

    rotate_cli(project, fake, "staging", NEW["moonshot"], crash_after="verify")
    busy = cli(project, "rollback", "-s", "staging", "-p", "moonshot")
    assert busy.returncode == 2 and "a rotation is in progress" in busy.stderr
    assert stages(spec, project)["current"] == OLD["moonshot"]


def test_a_crash_after_rollback_is_finished_by_resume(aws, fake, tmp_path):
    project = make_project(tmp_path, "inline")
    spec = seed(project, "staging")
    rotate_here(spec, project, fake, NEW["moonshot"])
    with crashing_after("rollback"), pytest.raises(InjectedFault):
        rot.rollback(spec, project, "moonshot", say=lambda _: None)

    rot.resume(spec, project, "moonshot", verify_url=None, say=lambda _: None)

    assert all(OLD["moonshot"] in text for text in deployed_texts(spec, project))


# --- 5. the key never shows ----------------------------------------------------------------


def test_the_key_never_shows_in_output_logs_or_errors(aws, fake, tmp_path, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG, logger="kimi_infra")  # (botocore's own DEBUG log prints response bodies)
    project = make_project(tmp_path, "inline")
    spec = seed(project, "staging")
    outputs: list[str] = []

    def run(*args, **kwargs):
        result = rotate_cli(project, fake, "staging", *args, **kwargs)
        outputs.extend((result.stdout, result.stderr))
        return result

    assert run(CANARY_KEY).returncode == 2  # not accepted yet: rejected, discarded
    fake.accept("moonshot", CANARY_KEY)
    assert run(CANARY_KEY, crash_after="verify").returncode == 2
    assert run(NEW["moonshot"]).returncode == 2  # refused: the canary's rotation is pending
    assert run(None, "--resume").returncode == 0
    assert run(CANARY_KEY).returncode == 0  # already current
    for args in (("rollback", "-s", "staging", "-p", "moonshot"), ("rollback", "-s", "staging", "-p", "moonshot"),
                 ("catalog-check", "-s", "staging", "-p", "moonshot", "--base-url", fake.base_url("moonshot"))):
        result = cli(project, *args)
        outputs.extend((result.stdout, result.stderr))
        assert result.returncode == 0, result.stderr
    readable = key_file(tmp_path, CANARY_KEY, 0o644)
    result = cli(project, "rotate", "-s", "staging", "-p", "moonshot", "--key-file", str(readable),
                 "--verify-base-url", fake.base_url("moonshot"))
    outputs.extend((result.stdout, result.stderr))
    assert "can be read by other users (mode 0644)" in result.stderr

    errors = []
    for key in (CANARY_KEY, f"{CANARY_KEY}\nX-Injected: 1", f" {CANARY_KEY}é"):
        for url in (fake.base_url("kimi-code"), "http://example.com/v1"):
            with pytest.raises(KimiInfraError) as error:
                get_models("moonshot", url, Secret(key))
            errors.append("".join(traceback.format_exception(error.value)))
    with crashing_after("stage"), pytest.raises(InjectedFault) as error:
        rotate_here(spec, project, fake, CANARY_KEY + "-2")
    errors.append("".join(traceback.format_exception(error.value)))

    assert stages(spec, project)["current"] == CANARY_KEY  # the canary really went through
    logged = caplog.text + "".join(repr(record.args) for record in caplog.records)
    moto_log = aws.log_path.read_text(errors="replace")
    for text in (*outputs, *errors, logged, moto_log):
        assert CANARY_KEY not in text


# --- catalog-check -------------------------------------------------------------------------


def test_catalog_check_passes_when_live_models_match(aws, fake, tmp_path):
    project = make_project(tmp_path)
    seed(project, "prod-cn")

    result = cli(project, "catalog-check", "-s", "prod-cn", "-p", "moonshot", "--base-url", fake.base_url("moonshot"))

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"moonshot at {fake.base_url('moonshot')}/models: 4 live models, 4 in our catalog", "the catalog matches"]


def test_catalog_check_lists_new_and_missing_models(aws, fake, tmp_path):
    project = make_project(tmp_path)
    seed(project, "staging")
    fake.behaviour.models["kimi-code"] = ["kimi-for-coding-2", "kimi-for-coding-3"]

    result = cli(project, "catalog-check", "-s", "staging", "-p", "kimi-code",
                 "--verify-base-url", fake.base_url("kimi-code"))

    assert result.returncode == 1
    assert result.stdout.splitlines()[1:] == ["new (live, not in our catalog): kimi-for-coding-2, kimi-for-coding-3",
                                              "missing (in our catalog, not live): kimi-for-coding"]


def test_catalog_check_counts_the_stacks_extra_models_as_ours(fake, tmp_path):
    extra = {"moonshot": [{"id": "kimi-k2-0711-preview", "name": "Kimi K2 0711", "contextWindow": 131072,
                           "maxTokens": 8192}]}
    project = write_project(tmp_path, {"lab": dev_like(providers=["moonshot"], extraModels=extra)})
    seed(project, "lab")
    fake.behaviour.models["moonshot"].append("kimi-k2-0711-preview")

    result = cli(project, "catalog-check", "-s", "lab", "-p", "moonshot", "--base-url", fake.base_url("moonshot"))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 live models, 5 in our catalog" in result.stdout


def test_compare_ids_sorts_and_deduplicates():
    assert compare_ids(["a", "b", "b"], ["b", "c"]).new == ("a",)
    assert compare_ids(["a"], ["a"]).equal


# --- the HTTP client -----------------------------------------------------------------------


def test_a_redirect_is_not_followed(fake):
    fake.accept("moonshot", "sk-ok")
    fake.behaviour.redirect_to = f"{fake.root}/elsewhere/v1/models"

    with pytest.raises(VerifyError, match=r"redirects elsewhere \(not followed.*\(HTTP 302\)"):
        get_models("moonshot", fake.base_url("moonshot"), Secret("sk-ok"))

    assert [r.path for r in fake.requests] == ["/moonshot/v1/models"]


@pytest.mark.parametrize(("status", "says"), [(404, "has no such endpoint"), (429, "is rate limiting"),
                                              (500, "failed (HTTP 500); fix: run again later")])
def test_other_http_answers_fail_clearly(fake, status, says):
    fake.behaviour.status = status
    with pytest.raises(VerifyError, match=re.escape(f"moonshot at {fake.base_url('moonshot')}/models {says}")):
        get_models("moonshot", fake.base_url("moonshot"), Secret("sk-ok"))


def test_a_slow_provider_times_out(fake):
    fake.accept("moonshot", "sk-ok")
    fake.behaviour.delay = 1.0
    with pytest.raises(VerifyError, match=r"cannot reach moonshot at .* \(timed out\); fix: check network"):
        get_models("moonshot", fake.base_url("moonshot"), Secret("sk-ok"), timeout=0.2)


def test_plain_http_is_refused_except_to_this_machine():
    with pytest.raises(VerifyError, match=re.escape("will not send the key to http://api.example.com/v1/models")):
        get_models("moonshot", "http://api.example.com/v1", Secret("sk-ok"))
    with pytest.raises(VerifyError, match=re.escape("will not send the key to file:///etc/models")):
        get_models("moonshot", "file:///etc", Secret("sk-ok"))


def test_a_model_list_that_is_not_one_fails_clearly(fake):
    fake.accept("moonshot", "sk-ok")
    fake.behaviour.body = b"<html>login</html>"
    answer = get_models("moonshot", fake.base_url("moonshot"), Secret("sk-ok"))
    with pytest.raises(VerifyError, match="not an OpenAI-style model list"):
        answer.model_ids()


# --- key input ------------------------------------------------------------------------------


def test_the_key_comes_from_a_file_with_its_newline_stripped(fake, tmp_path):
    project = make_project(tmp_path, "inline")
    spec = seed(project, "dev")

    result = cli(project, "rotate", "-s", "dev", "-p", "kimi-code", "--key-file",
                 str(key_file(tmp_path, NEW["kimi-code"])), "--verify-base-url", fake.base_url("kimi-code"))

    assert result.returncode == 0, result.stderr
    assert "can be read by other users" not in result.stderr
    assert stages(spec, project, "kimi-code")["current"] == NEW["kimi-code"]


@pytest.mark.parametrize(("args", "stdin", "says"), [
    ((), None, "give the new key with --key-file PATH or --key-stdin"),
    (("--key-stdin", "--key-file", "k"), "x", "give --key-file or --key-stdin, not both"),
    (("--key-stdin",), "\n", "error: the new moonshot key is empty"),
    (("--key-stdin",), "sk-two words", "characters no API key has"),
    (("--key-file", "/nonexistent/key"), None, "error: /nonexistent/key: cannot read the key file"),
])
def test_bad_key_input_is_refused_before_anything_happens(tmp_path, args, stdin, says):
    project = make_project(tmp_path)
    result = cli(project, "rotate", "-s", "dev", "-p", "moonshot", *args, stdin=stdin)
    assert result.returncode != 0 and says in result.stderr
    assert not (project / ".kimi-infra").exists()


def test_a_provider_the_stack_does_not_enable_is_refused(tmp_path):
    project = make_project(tmp_path)
    result = cli(project, "rotate", "-s", "prod-cn", "-p", "kimi-code", "--key-stdin", stdin=NEW["kimi-code"])
    assert result.returncode == 2
    assert "kimi-code is not enabled in stack prod-cn; fix: use one of moonshot" in result.stderr


def test_the_token_is_a_keyed_hash_of_provider_and_key():
    salt, other_salt = b"s" * 32, b"t" * 32
    token = rot.rotation_token("moonshot", Secret(NEW["moonshot"]), salt)
    assert token == rot.rotation_token("moonshot", Secret(NEW["moonshot"]), salt)
    assert token != rot.rotation_token("kimi-code", Secret(NEW["moonshot"]), salt)
    assert token != rot.rotation_token("moonshot", Secret(NEW["moonshot"]), other_salt)
    bare = hashlib.sha256(f"moonshot\0{NEW['moonshot']}".encode()).hexdigest()
    assert token[3:] != bare[:45]  # not the unsalted hash anyone could recompute from a guess
    assert token.startswith("kr-") and len(token) == 48


def test_each_store_keeps_its_own_random_salt(tmp_path):
    from kimi_infra.stores import LocalFileStore

    first = LocalFileStore(tmp_path / "a" / "secrets.json", "kimi-infra/dev/moonshot")
    second = LocalFileStore(tmp_path / "b" / "secrets.json", "kimi-infra/dev/moonshot")
    assert first.token_salt() == first.token_salt() != second.token_salt()
    assert len(first.token_salt()) == 32


def test_a_target_written_by_another_writer_between_our_read_and_write_is_written_again(
        aws, fake, tmp_path, monkeypatch):
    """Two rotations one after the other can write an S3 target at the same time: the later one's
    conditional put then fails (moto answers 412). It renders again from the store's current keys and
    writes over it, so the targets end on the current key (the run failed and left the older key)."""
    from kimi_infra.targets.s3 import S3Target

    project = make_project(tmp_path, "inline")
    spec = seed(project, "staging")
    real_snapshot = S3Target._snapshot
    intrusions = []

    def snapshot_then_someone_writes(self, client):
        snapshot = real_snapshot(self, client)
        if not intrusions:  # the other writer gets in once, right after our read
            intrusions.append(self.location)
            client.put_object(Bucket=self.bucket, Key=self.key, Body=b"// another writer's config\n")
        return snapshot

    monkeypatch.setattr(S3Target, "_snapshot", snapshot_then_someone_writes)
    lines = rotate_here(spec, project, fake, NEW["moonshot"])

    assert intrusions, "the S3 target was never read"
    assert any("a target changed under us; writing it again from the current keys" in line for line in lines)
    assert stages(spec, project)["current"] == NEW["moonshot"]
    for text in deployed_texts(spec, project):
        assert NEW["moonshot"] in text and OLD["moonshot"] not in text
