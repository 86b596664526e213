"""Locked dependencies: the venv holds exactly the lock's versions, and the engine and SDK that run are
the pair `engine/pulumi-pair.env` names (README "The engine/SDK pair")."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys

from tests.support.project import PROJECT_DIR
from tests.support.pulumi_engine import pulumi_pair as pair

RUNTIME_LOCK = PROJECT_DIR / "requirements.lock"
DEV_LOCK = PROJECT_DIR / "requirements-dev.lock"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def normalized(name: str) -> str:
    """PEP 503: pip freeze and pip-compile spell the same package differently (PyYAML, pyyaml)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lines: list[str]) -> dict[str, str]:
    """`name==version` lines (a lock's, or pip freeze's) as {normalized name: version}."""
    return {normalized(m[1]): m[2] for line in lines if (m := PIN.match(line.strip()))}


def go_module_version(module: str) -> str:
    for line in (PROJECT_DIR / "engine" / "go.mod").read_text().splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == module:
            return fields[1].removeprefix("v")
    raise AssertionError(f"engine/go.mod does not require {module}")


def venv_freeze() -> dict[str, str]:
    """What this venv holds, as pip sees it (the project's own editable install left out)."""
    command = [sys.executable, "-m", "pip", "freeze", "--exclude-editable", "--disable-pip-version-check"]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return pins(result.stdout.splitlines())


def test_every_lock_line_is_an_exact_version_with_hashes():
    for lock in (RUNTIME_LOCK, DEV_LOCK):
        text = lock.read_text()
        requirements = [line for line in text.splitlines() if line and not line.startswith((" ", "#"))]
        assert requirements, lock
        for line in requirements:
            assert PIN.match(line) and line.endswith("\\"), f"{lock.name}: {line!r} is not `name==version \\` + hashes"
        assert text.count("--hash=sha256:") >= len(requirements)


def test_the_dev_lock_holds_the_runtime_lock_at_the_same_versions():
    runtime, dev = pins(RUNTIME_LOCK.read_text().splitlines()), pins(DEV_LOCK.read_text().splitlines())
    assert {name: dev.get(name) for name in runtime} == runtime


def test_the_venv_holds_exactly_the_dev_lock():
    """`make test` installed requirements-dev.lock: nothing more, nothing less, no other version."""
    locked, installed = pins(DEV_LOCK.read_text().splitlines()), venv_freeze()
    missing = {n: v for n, v in locked.items() if installed.get(n) != v}
    extra = {n: v for n, v in installed.items() if n not in locked}
    assert not missing and not extra, (f"the venv differs from requirements-dev.lock: locked but not installed as "
                                       f"locked {missing}, installed but not locked {extra} (fix: rm -rf .venv && "
                                       f"make test)")


def test_runtime_requirements_are_what_the_tool_imports():
    """botocore is imported by the tool; boto3 and json5 only by tests (the dev lock has them)."""
    runtime = pins(RUNTIME_LOCK.read_text().splitlines())
    assert {"pulumi", "pydantic", "pyjson5", "botocore", "click", "pyyaml", "ruamel-yaml"} <= set(runtime)
    assert not {"boto3", "json5", "pytest", "moto"} & set(runtime)


def test_the_sdk_is_the_half_of_the_pair_the_project_names():
    sdk = pair()["PULUMI_SDK_VERSION"]
    assert f"pulumi=={sdk}" in (PROJECT_DIR / "requirements.txt").read_text().split()
    assert pins(RUNTIME_LOCK.read_text().splitlines())["pulumi"] == sdk
    assert importlib.metadata.version("pulumi") == sdk  # the SDK this venv (the program's, .venv) imports


def test_the_engine_go_module_and_its_exec_script_are_the_other_half():
    engine = pair()["PULUMI_ENGINE_VERSION"]
    assert go_module_version("github.com/pulumi/pulumi/pkg/v3") == engine  # the CLI
    assert go_module_version("github.com/pulumi/pulumi/sdk/v3") == engine  # the exec script and dynamic plugin


def test_the_locks_satisfy_the_requirements_files():
    """A requirement edited without `make lock` would leave the locks (and every venv) behind."""
    from packaging.requirements import Requirement

    sources = {PROJECT_DIR / "requirements.txt": RUNTIME_LOCK, PROJECT_DIR / "requirements-dev.txt": DEV_LOCK}
    for source, lock in sources.items():
        locked = pins(lock.read_text().splitlines())
        for line in source.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if not line or line.startswith("-"):
                continue
            requirement = Requirement(line)
            version = locked.get(normalized(requirement.name))
            assert version and requirement.specifier.contains(version, prereleases=True), \
                f"{source.name}: {line} is not what {lock.name} locks ({version}): run `make lock`"
