"""The README's Fleet section and the commands' help are what a newcomer sets a gateway host up
from: every command shown there must parse as written, and the help must say what the README says
a host needs (the include file, where reports go, the policy, the exit codes)."""

from __future__ import annotations

import re
import shlex

import click
import pytest
import yaml

from tests.support.project import PROJECT_DIR, run_cli


def fleet_section() -> str:
    text = (PROJECT_DIR / "README.md").read_text()
    start = text.index("## Fleet")
    return text[start:text.index("\n## ", start + 1)]


def shown_commands() -> list[list[str]]:
    """Each kimi-infra command line of the section's code blocks (shell, systemd, Kubernetes), as argv."""
    commands = []
    for block in re.findall(r"```(\w+)\n(.*?)```", fleet_section(), re.S):
        kind, body = block
        if kind == "yaml":
            for container in yaml.safe_load(body).get("containers", []):
                if container.get("command", [""])[0] == "kimi-infra":
                    commands.append(container["command"][1:])
            continue
        for line in body.replace("\\\n", " ").splitlines():
            line = line.removeprefix("ExecStart=").split("  #")[0].strip()
            words = shlex.split(line) if line else []
            if words and (words[0] == "kimi-infra" or words[0].endswith("/bin/kimi-infra")):
                commands.append(words[1:])
    return commands


def test_the_section_shows_agent_fleet_and_rotate_commands():
    names = {next(word for word in argv if not word.startswith("-") and "/" not in word) for argv in shown_commands()}
    assert {"agent", "fleet", "rotate"} <= names


@pytest.mark.parametrize("argv", shown_commands(), ids=lambda argv: " ".join(argv)[:60])
def test_every_command_the_readme_shows_parses(argv):
    # --help is handled once every option has parsed: an unknown or misspelt one is exit 2, and
    # nothing runs either way.
    result = run_cli(*argv, "--help")
    assert result.returncode == 0 and "Usage: kimi-infra" in result.stdout, (argv, result.stderr)


def help_text(command: click.Command) -> str:
    """A command's help and its options' help, as written (not wrapped for a terminal)."""
    texts = [command.help or ""] + [getattr(param, "help", None) or "" for param in command.params]
    return " ".join(" ".join(texts).split())


def test_agent_help_says_what_a_host_needs():
    from kimi_infra.commands.agent import agent

    shown = help_text(agent)
    for words in ["$include", "not openclaw.json itself", "OPENCLAW_INCLUDE_ROOTS", "iam-policy --stack S --for agent",
                  "kimi-infra:fleet", "KIMI_INFRA_PROJECT_DIR", ".fleet/reports/<gateway-id>.json",
                  "/P.fleet-reports/<gateway-id>", "exit 2 before anything is written", "SIGTERM",
                  "exit 0 when the gateway runs what the stack publishes, 1 when not", "heartbeatSeconds"]:
        assert words in shown, words


def test_fleet_help_says_what_stale_means_and_every_exit_code():
    from kimi_infra.commands.fleet import fleet

    shown = help_text(fleet)
    for words in ["no report for three heartbeats", "Exit 0", "1 when one lags or is stale", "2 on an error",
                  "gatewayId", "oldKeys"]:
        assert words in shown, words
