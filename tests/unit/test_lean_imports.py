"""The offline path (`render`, `validate`, the pure core) never imports pulumi or boto3, and `render`
of plain stack files imports no YAML library (issue 23: its cold start)."""

from __future__ import annotations

import subprocess
import sys

from tests.support.project import PROJECT_DIR

PROBE = """
import atexit, sys
HEAVY = ("pulumi", "boto3", "botocore", "yaml", "ruamel")
atexit.register(lambda: print("LOADED:" + ",".join(m for m in HEAVY if m in sys.modules)))
sys.argv = ["kimi_infra", *sys.argv[1:]]
import runpy
runpy.run_module("kimi_infra", run_name="__main__")
"""


def loaded_heavy_modules(*args: str) -> list[str]:
    result = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=PROJECT_DIR, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    marker = result.stdout.strip().splitlines()[-1]
    return [m for m in marker.removeprefix("LOADED:").split(",") if m]


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
