"""The layer contract `make lint` runs (`lint-imports`, pyproject.toml [tool.importlinter]): the tree
as it is keeps it, and a copy with one upward import added, even a function-local (lazy) one, breaks it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.project import PROJECT_DIR

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def copy_of_tree(dest: Path) -> Path:
    """The packages the contract names and its configuration, in a folder of their own."""
    for package in ("kimi_infra", "components"):
        shutil.copytree(PROJECT_DIR / package, dest / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PROJECT_DIR / "pyproject.toml", dest / "pyproject.toml")
    return dest


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` as `make lint` runs it, on `tree` (its packages first on the path)."""
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=tree, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tree), "COLUMNS": "300"})


def add_lazy_import(module: Path, line: str) -> None:
    """Append a function that imports `line` inside its body: a lazy import, the kind kept for start-up speed."""
    module.write_text(module.read_text() + f"\n\ndef _upward() -> None:\n    {line}  # noqa\n")


def test_the_tree_keeps_the_contract(tmp_path):
    result = lint_imports(copy_of_tree(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(("module", "line", "says"), [
    # the pure core reaching up into the CLI layers
    ("kimi_infra/models.py", "from kimi_infra.commands.options import say", "is not allowed to import"),
    # deploy reaching up into ops: the cycle deploy <-> ops.deploy_plan this contract was made for
    ("kimi_infra/deploy.py", "from kimi_infra.ops.deploy_plan import plan_deploy", "is not allowed to import"),
    # a cycle inside the core (catalog -> models; models -> catalog closes it)
    ("kimi_infra/models.py", "from kimi_infra.catalog import PROVIDERS", "No cycles are allowed in kimi_infra"),
    # the core importing the Pulumi program
    ("kimi_infra/render.py", "import components.program", "is not allowed to import components"),
])
def test_an_upward_import_breaks_the_contract(tmp_path, module, line, says):
    tree = copy_of_tree(tmp_path)
    add_lazy_import(tree / module, line)
    result = lint_imports(tree)
    assert result.returncode == 1, result.stdout + result.stderr
    assert says in result.stdout
    assert "BROKEN" in result.stdout
