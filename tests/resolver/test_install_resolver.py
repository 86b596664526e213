"""`install-resolver --dest`: never over what the launcher runs, never where another user can swap
it, and a failed install leaves the launcher that was there untouched (issue 20, finding 8).

Run through the real CLI in a subprocess. Cases that would break an interpreter use a throwaway
virtualenv made here, never the one running the tests.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.support.project import PROJECT_DIR, run_cli
from tests.support.resolver import install_launcher

UNSAFE = "another user could swap the launcher"


def _refused(result, *words: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("error: install-resolver: ") and result.stderr.count("\n") == 1, result.stderr
    for word in words:
        assert word in result.stderr


@pytest.fixture
def throwaway_venv(tmp_path: Path) -> Path:
    """A virtualenv of symlinks (no pip) whose Python finds this checkout's dependencies through
    PYTHONPATH: the CLI runs in it, so its own interpreter is what a wrong --dest would break."""
    folder = tmp_path / "venv"
    venv.create(folder, with_pip=False, symlinks=True)
    return folder


def _run_in(folder: Path, *args: str) -> subprocess.CompletedProcess:
    """`python -m kimi_infra ARGS` with the Python of the virtualenv at `folder`."""
    path = os.pathsep.join([str(PROJECT_DIR), *site.getsitepackages()])
    return subprocess.run([str(folder / "bin" / "python"), "-m", "kimi_infra", *args], cwd=folder,
                          env={**os.environ, "PYTHONPATH": path}, capture_output=True, text=True, timeout=120)


def test_refuses_the_interpreter_of_its_own_virtualenv(throwaway_venv):
    python = throwaway_venv / "bin" / "python"
    target = os.readlink(python)
    result = _run_in(throwaway_venv, "install-resolver", "--dest", str(python))
    _refused(result, "inside this virtualenv")
    assert os.readlink(python) == target  # the venv's python is still the symlink it was


def test_refuses_a_new_file_inside_the_running_virtualenv():
    dest = Path(sys.prefix) / "bin" / "kimi-infra-resolve-test"
    try:
        _refused(run_cli("install-resolver", "--dest", str(dest)), "inside this virtualenv")
        assert not dest.exists()
    finally:
        dest.unlink(missing_ok=True)


def test_refuses_a_path_that_is_the_interpreter_through_a_symlink(tmp_path):
    link = tmp_path / "python-link"
    link.symlink_to(sys.executable)
    _refused(run_cli("install-resolver", "--dest", str(link)), "is the Python interpreter")
    assert link.is_symlink() and link.resolve() == Path(sys.executable).resolve()


def test_refuses_a_path_inside_the_code_it_runs():
    dest = PROJECT_DIR / "kimi_infra" / "kimi-infra-resolve"
    try:
        _refused(run_cli("install-resolver", "--dest", str(dest)), "inside this code")
        assert not dest.exists()
    finally:
        dest.unlink(missing_ok=True)


@pytest.mark.parametrize(("modes", "who"), [
    ({"shared/bin": 0o777}, "everyone"),  # the destination's own folder
    ({"shared": 0o777}, "everyone"),  # a folder above it: rename bin/ away, put another in place
    ({"shared/bin": 0o775}, "its group"),
])
def test_refuses_a_folder_others_can_write_without_the_sticky_bit(tmp_path, modes, who):
    (tmp_path / "shared" / "bin").mkdir(parents=True)
    for folder, mode in modes.items():
        (tmp_path / folder).chmod(mode)
    dest = tmp_path / "shared" / "bin" / "kimi-infra-resolve"
    _refused(run_cli("install-resolver", "--dest", str(dest)), f"writable by {who} without the sticky bit", UNSAFE)
    assert os.listdir(dest.parent) == []  # nothing written, not even a temp


def test_refuses_a_world_writable_folder_reached_through_a_symlink(tmp_path):
    (tmp_path / "shared").mkdir(mode=0o777)
    (tmp_path / "shared").chmod(0o777)
    (tmp_path / "safe").mkdir()
    (tmp_path / "safe" / "bin").symlink_to(tmp_path / "shared")
    _refused(run_cli("install-resolver", "--dest", str(tmp_path / "safe" / "bin" / "resolve")), UNSAFE)


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder to another user needs root")
def test_refuses_a_folder_owned_by_another_user(tmp_path):
    folder = tmp_path / "theirs"
    folder.mkdir()
    os.chown(folder, 4242, 4242)
    _refused(run_cli("install-resolver", "--dest", str(folder / "resolve")), "belongs to another user (uid 4242)")


def test_a_sticky_world_writable_folder_is_accepted(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # as /tmp: nobody can rename what another user put there
    install_launcher(shared / "bin" / "kimi-infra-resolve")


def test_a_failed_test_run_leaves_the_working_launcher_untouched(tmp_path):
    dest = install_launcher(tmp_path / "bin" / "kimi-infra-resolve")
    working = dest.read_bytes()
    broken = tmp_path / "broken"  # a checkout whose resolver does not answer
    shutil.copytree(PROJECT_DIR / "kimi_infra", broken / "kimi_infra",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (broken / "kimi_infra" / "resolver.py").write_text("def main():\n    raise SystemExit('resolver broken')\n")
    result = run_cli("install-resolver", "--dest", str(dest), env={"PYTHONPATH": str(broken)}, cwd=broken,
                     in_process=False)  # the launcher runs the checkout of the process that writes it
    _refused(result, "does not answer a test request (resolver broken)")
    assert dest.read_bytes() == working
    assert os.listdir(dest.parent) == [dest.name]  # the tested temp went too


@pytest.mark.parametrize("name", ["secrets.json", "Pulumi.dev.yaml", "program.py"])
def test_an_existing_file_that_is_not_a_launcher_is_never_replaced(tmp_path, name):
    """A key store, a stack file, anyone's program: `--dest` at it is refused and it stays as it was
    (the launcher replaced a dev key store whole); an earlier launcher is replaced as before."""
    victim = tmp_path / "bin" / name
    victim.parent.mkdir()
    victim.write_text('{"kept": "the dev keys"}')
    _refused(run_cli("install-resolver", "--dest", str(victim)), "is not a resolver launcher kimi-infra wrote")
    assert victim.read_text() == '{"kept": "the dev keys"}'
    assert os.listdir(victim.parent) == [name]


def test_an_earlier_launcher_is_replaced(tmp_path):
    dest = install_launcher(tmp_path / "bin" / "kimi-infra-resolve")
    result = run_cli("install-resolver", "--dest", str(dest))
    assert result.returncode == 0, result.stderr
