"""The offline path (`render`, `validate`, the pure core) never imports pulumi or boto3, and `render`
of plain stack files imports no YAML library (issue 23: its cold start)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.project import PROJECT_DIR

PROBE = """
import atexit, sys
HEAVY = ("pulumi", "boto3", "botocore", "yaml", "ruamel")
def said():
    loader = sys.modules.get("pydantic.plugin._loader")
    print("SCANNED:" + str(loader is not None and loader._plugins is not None))
    print("LOADED:" + ",".join(m for m in HEAVY if m in sys.modules))
atexit.register(said)
sys.argv = ["kimi_infra", *sys.argv[1:]]
import runpy
runpy.run_module("kimi_infra", run_name="__main__")
"""
"""`python -m kimi_infra ARGS` that says at exit whether pydantic scanned for plugins, then the heavy modules
it loaded (its last two lines)."""


def probe(*args: str, env: dict[str, str] | None = None) -> tuple[bool, list[str]]:
    """(scanned for pydantic plugins, heavy modules loaded) of `kimi-infra ARGS` in a fresh interpreter."""
    result = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=PROJECT_DIR, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    scanned, loaded = result.stdout.strip().splitlines()[-2:]
    return scanned == "SCANNED:True", [m for m in loaded.removeprefix("LOADED:").split(",") if m]


def loaded_heavy_modules(*args: str) -> list[str]:
    return probe(*args)[1]


def test_render_imports_neither_pulumi_nor_boto3(known_project):
    loaded = loaded_heavy_modules("--project-dir", str(known_project), "render", "--stack", "prod", "--out", "-")
    assert [m for m in loaded if m not in ("yaml", "ruamel")] == []


def test_render_of_the_shipped_stacks_imports_no_yaml_library(known_project):
    """Every stack file of the project is read (path rules), all in plain block YAML: simple_yaml reads them."""
    for stack in ("dev", "prod-cn"):
        assert loaded_heavy_modules("--project-dir", str(known_project), "render", "--stack", stack,
                                    "--out", "-") == []


def test_pure_core_imports_neither():
    code = ("import sys, kimi_infra.models, kimi_infra.catalog, kimi_infra.assemble, kimi_infra.render, "
            "kimi_infra.stackfile, kimi_infra.validate, kimi_infra.stores, kimi_infra.targets; "
            "print([m for m in ('pulumi', 'boto3') if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_DIR, capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr


def scanned_for_pydantic_plugins(project, env_value: str | None) -> bool:
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    if env_value is not None:
        env["PYDANTIC_DISABLE_PLUGINS"] = env_value
    return probe("--project-dir", str(project), "render", "--stack", "dev", "--out", "-", env=env)[0]


def test_the_cli_does_not_scan_installed_distributions_for_pydantic_plugins(known_project):
    assert scanned_for_pydantic_plugins(known_project, None) is False


def test_a_pydantic_disable_plugins_the_user_set_wins(known_project):
    """Empty means: load every plugin (pydantic's rule); the CLI only sets a default."""
    assert scanned_for_pydantic_plugins(known_project, "") is True
