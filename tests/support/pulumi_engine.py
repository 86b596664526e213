"""The real Pulumi engine for tests: built once by `engine/build.sh`, run as its CLI on a copy of the project.

Every command runs as a user would type it (`pulumi login`, `pulumi stack select --create`, `pulumi
config set --secret` reading the key from stdin, `pulumi up --yes`), in a scratch copy of the project
with its own PULUMI_HOME and state backend, and with AWS pointed at a moto_server.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.moto import aws_test_env
from tests.support.project import CANARY_KEY, PROJECT_DIR, copy_known_project

BUILD_SCRIPT = PROJECT_DIR / "engine" / "build.sh"
PAIR_FILE = PROJECT_DIR / "engine" / "pulumi-pair.env"
BUILD_TIMEOUT_S = 1800  # a cold build downloads ~1.6 GB of Go modules and compiles for ~5-8 min
PASSPHRASE = "engine-tests-passphrase"
DOCUMENTED_OUTPUTS = frozenset({"secretNames", "secretArns", "secretVersionIds", "modelRefs", "renderHash", "targets",
                                "contentHashes"})
"""The stack outputs the README promises."""
KMS_REGION = "us-east-1"
"""Where `kms_secrets_provider` makes its key (moto keeps each region apart)."""
KIMICODE_CANARY = CANARY_KEY.replace("CANARY", "KIMICODE")
"""The Kimi Code twin of CANARY_KEY: a fake key searched for wherever no key may be."""
# What a copy of the project needs to run: the program, the tool it imports (the stack files are the known ones).
PROJECT_FILES = ("Pulumi.yaml", "__main__.py", "components", "kimi_infra", "requirements.txt")


class EngineUnavailable(RuntimeError):
    """`engine/build.sh` failed; the message carries the build's own error."""


def pulumi_pair() -> dict[str, str]:
    """The engine/SDK pair the project names: {"PULUMI_ENGINE_VERSION": ..., "PULUMI_SDK_VERSION": ...}."""
    lines = (line for line in PAIR_FILE.read_text().splitlines() if line.strip() and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in (line.split("=", 1) for line in lines)}


def build_engine() -> Path:
    """The folder holding the built engine (built now, or reused); EngineUnavailable if it cannot be built.

    Parallel test workers each ask: a lock makes one build while the others wait, then reuse it
    (two builds at once would swap the bin/ folder under a worker already running it)."""
    cache = Path(os.environ.get("KIMI_INFRA_ENGINE_CACHE") or Path.home() / ".cache" / "kimi-infra")
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".engine-tests.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = subprocess.run(["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        tail = "\n".join(result.stderr.strip().splitlines()[-15:])
        raise EngineUnavailable(f"engine/build.sh exited {result.returncode}:\n{tail}")
    return Path(lines[-1])


def kms_secrets_provider(endpoint: str) -> str:
    """An `awskms://` secrets-provider URL on a new KMS key of the moto_server at `endpoint` (pinned in the
    URL, so a test that points AWS_ENDPOINT_URL elsewhere still reaches it).

    Pulumi's default passphrase provider derives its key with 1,000,000 rounds of PBKDF2 in every command
    that needs the stack's secrets manager (`stack select --create`, `config set --secret`, `preview`, `up`,
    `refresh`, `destroy`): ~0.17 s of CPU each, about half of what such a command uses. A KMS-encrypted data
    key costs one call to moto instead. Measured on tests/engine/test_guards.py (165 pulumi commands), two
    runs each: the pulumi processes used 27.6 and 28.8 CPU-s with the passphrase, 14.4 and 14.0 with KMS."""
    import boto3

    key = boto3.client("kms", region_name=KMS_REGION, endpoint_url=endpoint).create_key()["KeyMetadata"]["KeyId"]
    return f"awskms://{key}?region={KMS_REGION}&endpoint={endpoint}"


def copy_project(destination: Path) -> Path:
    """A copy of the project that `pulumi up` can run: its files, the known stacks (never the user's),
    plus the checkout's virtualenv under the name Pulumi.yaml gives it (`.venv`)."""
    destination.mkdir(parents=True)
    for name in PROJECT_FILES:
        source = PROJECT_DIR / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, destination / name)
    copy_known_project(destination)
    (destination / ".venv").symlink_to(PROJECT_DIR / ".venv")
    return destination


@dataclass
class PulumiCli:
    """The `pulumi` CLI of the built engine, run in `project` against `backend`."""

    engine_bin: Path
    project: Path
    home: Path
    aws_endpoint: str
    transcript: list[str] = field(default_factory=list)  # every command's stdout+stderr, for leak checks
    secrets_provider: str | None = None
    """What a stack this CLI creates encrypts its secrets with: Pulumi's default passphrase provider when
    None (the README's commands), else a `--secrets-provider` URL (`kms_secrets_provider`)."""

    @property
    def env(self) -> dict[str, str]:
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PULUMI_"))},
            **aws_test_env(self.aws_endpoint),
            "PATH": f"{self.engine_bin}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            "PULUMI_HOME": str(self.home),
            "PULUMI_SKIP_UPDATE_CHECK": "1",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
            "NO_COLOR": "1",
        }

    def run(self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 300,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """`pulumi <args>` in the project folder; `check` fails with the command's own output."""
        result = subprocess.run(["pulumi", *args, "--non-interactive"], cwd=self.project, input=stdin,
                                env={**self.env, **(env or {})}, capture_output=True, text=True, timeout=timeout)
        self.transcript.append(result.stdout + result.stderr)
        if check and result.returncode != 0:
            command = " ".join(args)
            raise AssertionError(f"pulumi {command} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    def start(self, *args: str, env: dict[str, str] | None = None, log: Path) -> subprocess.Popen:
        """`pulumi <args>` in the background, output to `log` (read it into the transcript after)."""
        handle = log.open("w")
        return subprocess.Popen(["pulumi", *args, "--non-interactive"], cwd=self.project, stdout=handle,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env={**self.env, **(env or {})})

    def login(self, backend: str) -> None:
        self.run("login", backend)

    def select_stack(self, stack: str) -> None:
        """`pulumi stack select --create`: a stack it creates gets `secrets_provider`."""
        provider = ("--secrets-provider", self.secrets_provider) if self.secrets_provider else ()
        self.run("stack", "select", "--create", stack, *provider)

    def set_secret(self, key: str, value: str) -> None:
        """`pulumi config set --secret`, the value on stdin as the README says (never in argv)."""
        self.run("config", "set", "--secret", key, stdin=value)

    def set_keys(self, moonshot: str, kimicode: str) -> None:
        self.set_secret("kimi-infra:moonshotApiKey", moonshot)
        self.set_secret("kimi-infra:kimicodeApiKey", kimicode)

    def up(self, *extra: str) -> subprocess.CompletedProcess:
        """`pulumi up --yes --skip-preview`: the tests' deploy. Its own preview would run the program and the
        providers' checks and diffs a second time; previews are tested by `preview` runs of their own, and
        the plain `up --yes` a user types by test_stacks.py (every shipped stack) and test_one_line.py."""
        return self.run("up", "--yes", "--skip-preview", *extra)

    def outputs(self) -> dict[str, Any]:
        return json.loads(self.run("stack", "output", "--json").stdout)

    def resource_outputs(self, name: str) -> dict[str, Any]:
        """The outputs the checkpoint holds for the resource called `name` (what `refresh` updates)."""
        deployment = json.loads(self.run("stack", "export").stdout)["deployment"]
        matches = [r for r in deployment.get("resources", []) if r["urn"].endswith(f"::{name}")]
        assert len(matches) == 1, f"{len(matches)} resources named {name}"
        return matches[0].get("outputs", {})

    def preview_steps(self, *extra: str) -> list[dict[str, Any]]:
        """The steps `pulumi preview --json` plans: op and resource type per step."""
        result = self.run("preview", "--json", *extra)
        return json.loads(result.stdout).get("steps", [])
