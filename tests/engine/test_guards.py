"""The real engine applies deploy's guards: `pulumi preview`, `up` (also with --skip-preview) and
`destroy` refuse every bad file target of the shared table (tests/bad_inputs, the cases the CLI tests
run through `deploy` and `render`) and every config key `set-key` refuses, in one line, with no
traceback, and write nothing: no target, no key store, no stack file change (issue 20, findings 1, 5)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.support.bad_inputs import BAD_KEYS, BAD_STACK, DEV_STORE, TARGET_CASES, expectations, project_files
from tests.support.project import CANARY_KEY
from tests.support.pulumi_engine import KIMICODE_CANARY, PulumiCli

pytestmark = pytest.mark.engine

REFUSING = (("up", "--yes", "--skip-preview"), ("preview",))
"""`up` with its preview refuses in that preview: the two commands cover both ways `up` starts
(--skip-preview first: under it, a NUL path used to store the key before the refusal)."""


def assert_refused_in_one_line(result: subprocess.CompletedProcess, *words: str) -> None:
    """Our refusal is one `error:` line of the engine's diagnostics (the engine's progress display
    echoes it, and its language host adds "Program exited with non-zero exit code: 1")."""
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output and CANARY_KEY not in output and KIMICODE_CANARY not in output
    diagnostics = output.partition("Diagnostics:")[2].splitlines()
    lines = [line.strip() for line in diagnostics if all(word in line for word in words)]
    assert len(lines) == 1, output
    assert lines[0].startswith("error: stacks/Pulumi.") and "fix: " in lines[0], lines[0]


def assert_every_command_refuses(pulumi: PulumiCli, *words: str) -> None:
    """preview and up refuse, writing nothing; destroy then finds nothing to delete."""
    before = project_files(pulumi.project)
    for command in REFUSING:
        result = pulumi.run(*command, check=False)
        changed = sorted({name for name, _ in set(project_files(pulumi.project).items()) ^ set(before.items())})
        assert changed == [], f"pulumi {' '.join(command)} wrote these"  # names only: a store holds keys
        assert_refused_in_one_line(result, *words)
    destroyed = pulumi.run("destroy", "--yes", check=False)
    assert destroyed.returncode == 0 and "Traceback" not in destroyed.stdout + destroyed.stderr
    assert project_files(pulumi.project) == before


@pytest.mark.parametrize("stack_file", TARGET_CASES, ids=lambda p: p.stem)
def test_pulumi_refuses_each_bad_target_and_writes_nothing(pulumi: PulumiCli, stack_file):
    shutil.copy(stack_file, pulumi.project / "stacks" / f"Pulumi.{BAD_STACK}.yaml")
    pulumi.select_stack(BAD_STACK)
    pulumi.set_secret("kimi-infra:moonshotApiKey", CANARY_KEY)
    field, words = expectations(stack_file)
    assert_every_command_refuses(pulumi, field, words)


def test_pulumi_up_never_writes_over_the_dev_key_store(pulumi: PulumiCli):
    """Finding 1: a stack whose file target is the dev stack's key store; `deploy` refused it, `up`
    wrote its config over the dev keys and `destroy` then deleted the file."""
    pulumi.select_stack("dev")
    pulumi.set_keys(CANARY_KEY, KIMICODE_CANARY)
    pulumi.up()
    dev_keys = (pulumi.project / DEV_STORE).read_bytes()
    (pulumi.project / "stacks" / "Pulumi.thief.yaml").write_text(
        "config:\n  kimi-infra:providers: [moonshot]\n"
        f"  kimi-infra:targets: [{{kind: file, path: {DEV_STORE}}}]\n")
    pulumi.select_stack("thief")
    pulumi.set_secret("kimi-infra:moonshotApiKey", "sk-thief-0123456789abcdefghijklmnop")
    assert_every_command_refuses(pulumi, "kimi-infra:targets[0].path", "the secret store file secrets.json")
    assert (pulumi.project / DEV_STORE).read_bytes() == dev_keys


def test_pulumi_refuses_config_keys_that_set_key_refuses(pulumi: PulumiCli):
    """Finding 5: `pulumi config set --secret` strips one trailing newline only; a key with an inner
    newline, a CR or padding, or one key for both providers, is refused before any key is stored."""
    pulumi.select_stack("dev")
    for name, key in BAD_KEYS.items():
        pulumi.set_keys(key, KIMICODE_CANARY)
        try:
            assert_every_command_refuses(pulumi, "kimi-infra:moonshotApiKey", "characters no API key has")
        except AssertionError as error:
            raise AssertionError(f"key with {name}: {error}") from None
    pulumi.set_keys(CANARY_KEY, CANARY_KEY)
    assert_every_command_refuses(pulumi, "the same key is set for moonshot and kimi-code")
    assert not (pulumi.project / DEV_STORE).exists()
