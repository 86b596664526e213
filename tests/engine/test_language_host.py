"""Our Python language host (engine/cmd/pulumi-language-python) and dynamic-provider wrapper under the real
engine, on a program laid out as `pulumi new python` lays one out (tests/engine/new_python: __main__.py,
requirements.txt, Pulumi.yaml with `toolchain: pip` and `virtualenv: venv`).

Each test runs `pulumi` as a user does on a copy of that project; what the host did is seen in the stack's
outputs (entry point, working directory, config) or in files the program and its provider write."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support.processes import Process, descendants, parent_command, parent_pid, wait_until_gone
from tests.support.project import PROJECT_DIR
from tests.support.pulumi_engine import PulumiCli

pytestmark = pytest.mark.engine

FIXTURE = Path(__file__).with_name("new_python")
UNUSED_AWS = "http://127.0.0.1:9"  # the probe program touches no AWS (only the state's KMS key, at its own URL)
START_S = 120  # bounded waits: generous for a loaded 2-core machine, never a timing assertion
EXIT_S = 60


@pytest.fixture
def bare_probe(engine_bin: Path, tmp_path: Path, state_secrets: str | None) -> Iterator[PulumiCli]:
    """`pulumi` in a copy of the probe project whose `venv` is the checkout's virtualenv, stack `dev` (no config)."""
    project = tmp_path / "host-probe"
    shutil.copytree(FIXTURE, project)
    (project / "venv").symlink_to(PROJECT_DIR / ".venv")
    (tmp_path / "marks").mkdir()
    cli = PulumiCli(engine_bin, project, tmp_path / "pulumi-home", UNUSED_AWS, secrets_provider=state_secrets)
    (tmp_path / "state").mkdir()
    cli.login(f"file://{tmp_path / 'state'}")
    cli.select_stack("dev")
    yield cli


@pytest.fixture
def probe(bare_probe: PulumiCli) -> PulumiCli:
    """The probe project with one config value, so that each test checks its own point and not the empty config."""
    bare_probe.run("config", "set", "greeting", "hello")
    return bare_probe


def marks(cli: PulumiCli) -> Path:
    return cli.project.parent / "marks"


def probe_env(cli: PulumiCli, behaviour: str) -> dict[str, str]:
    return {"HOST_PROBE": behaviour, "HOST_PROBE_DIR": str(marks(cli))}


def set_runtime_option(cli: PulumiCli, **options: str | bool | None) -> None:
    """Sets `options` among the runtime options of the probe project's Pulumi.yaml (None removes one)."""
    path = cli.project / "Pulumi.yaml"
    project = yaml.safe_load(path.read_text())
    runtime_options = project["runtime"]["options"]
    for name, value in options.items():
        if value is None:
            runtime_options.pop(name, None)
        else:
            runtime_options[name] = value
    path.write_text(yaml.safe_dump(project, sort_keys=False))


def sitecustomize(folder: Path, code: str) -> dict[str, str]:
    """The environment that makes every interpreter of the engine run `code` at start (a sitecustomize.py in
    `folder`, on PYTHONPATH), as some hosts' pythons do."""
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(code)
    return {"PYTHONPATH": str(folder)}


@pytest.fixture
def private_tmp() -> Iterator[Path]:
    """A TMPDIR of the test's own, so that the host's and the wrapper's hand-over folder is the test's: short,
    for a Unix socket's path has at most 107 bytes (under a longer one the host offers nothing)."""
    tmp = Path(tempfile.mkdtemp(prefix="kw-", dir="/tmp"))
    yield tmp
    shutil.rmtree(tmp)


def warm_env(cli: PulumiCli, behaviour: str, tmp: Path) -> dict[str, str]:
    return {**probe_env(cli, behaviour), "TMPDIR": str(tmp)}


def wait_for_file(path: Path, run: subprocess.Popen, log: Path) -> str:
    deadline = time.monotonic() + START_S
    while not path.exists():
        assert run.poll() is None, f"pulumi ended before {path.name} appeared:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"no {path.name} within {START_S} s:\n{log.read_text()}"
        time.sleep(0.1)
    return path.read_text()


def test_a_stack_without_config_runs_with_an_empty_config(bare_probe: PulumiCli):
    """The engine sends no config for a stack without any: the SDK must get `{}`, not `null` (it failed on it)."""
    assert "config" not in yaml.safe_load((bare_probe.project / "Pulumi.dev.yaml").read_text())  # only the salt
    bare_probe.up()
    assert bare_probe.outputs()["greeting"] == "no config"


def test_the_stack_config_reaches_the_program(probe: PulumiCli):
    probe.up()
    assert probe.outputs()["greeting"] == "hello"


def test_main_names_the_entry_point_relative_to_the_project(probe: PulumiCli):
    """`main: app/program.py` runs that file, in its folder, as upstream's host does (ours ran __main__.py)."""
    (probe.project / "app").mkdir()
    (probe.project / "__main__.py").rename(probe.project / "app" / "program.py")
    path = probe.project / "Pulumi.yaml"
    path.write_text(path.read_text() + "main: app/program.py\n")
    probe.up()
    outputs = probe.outputs()
    assert outputs["entry"] == "program.py"
    assert Path(outputs["cwd"]) == (probe.project / "app").resolve()


def test_a_cancelled_up_interrupts_the_program_before_anything_else(probe: PulumiCli, tmp_path: Path):
    """Ctrl-C of `pulumi up`: the engine sends Cancel, the host sends the program SIGINT and waits for it to end.
    The program has left the host's process group, so only what the host sends reaches it (the old host had no
    Cancel and sent nothing: pulumi then waited for ever on the program)."""
    log = tmp_path / "up.log"
    run = probe.start("up", "--yes", env=probe_env(probe, "wait-for-cancel"), log=log)
    program = 0
    try:
        program = int(wait_for_file(marks(probe) / "program-pid", run, log))
        os.kill(run.pid, signal.SIGINT)  # pulumi alone, as `kill -INT`; a terminal's Ctrl-C would reach all
        run.wait(timeout=EXIT_S)
    finally:
        if run.poll() is None:
            run.kill()
        if program and os.path.exists(f"/proc/{program}"):
            os.kill(program, signal.SIGKILL)
    assert run.returncode != 0, log.read_text()
    assert (marks(probe) / "program-signal").read_text() == "SIGINT", log.read_text()


@contextlib.contextmanager
def up_with_a_deaf_program(probe: PulumiCli, log: Path) -> Iterator[tuple[subprocess.Popen, Process]]:
    """`pulumi up` of the `ignore-cancel` probe (out of the host's process group, carries on after SIGINT) and
    its program once it runs; neither is left running afterwards."""
    run = probe.start("up", "--yes", env=probe_env(probe, "ignore-cancel"), log=log)
    program = []
    try:
        pid = int(wait_for_file(marks(probe) / "program-pid", run, log))
        program = [p for p in descendants(run.pid) if p.pid == pid]
        assert program, "the program is not the host's child"
        yield run, program[0]
    finally:
        if run.poll() is None:
            run.kill()
        for process in program:
            if process.running():
                os.kill(process.pid, signal.SIGKILL)


def test_a_program_that_carries_on_after_sigint_is_killed_after_the_grace_period(probe: PulumiCli, tmp_path: Path):
    """SIGINT first, then, when the program does not stop within the grace period (5 s), SIGKILL: the cancel ends."""
    log = tmp_path / "up.log"
    with up_with_a_deaf_program(probe, log) as (run, program):
        os.kill(run.pid, signal.SIGINT)
        run.wait(timeout=EXIT_S)
        left = wait_until_gone([program], EXIT_S)
    assert (marks(probe) / "program-signal").read_text() == "SIGINT", log.read_text()
    assert run.returncode != 0 and "canceled" in log.read_text(), log.read_text()
    assert left == [], "the program outlived the cancelled up"


def test_a_program_dies_with_its_host_and_pulumi_ends(probe: PulumiCli, tmp_path: Path):
    """The engine kills a host it closes 5 s after interrupting it, which on a loaded machine came before the
    host's own grace period ended; the program (out of the host's process group, deaf to SIGINT) then lived on,
    holding pulumi's pipes, and pulumi waited for it. Here the host is killed outright while the program runs."""
    log = tmp_path / "up.log"
    with up_with_a_deaf_program(probe, log) as (run, program):
        host = parent_command(program.pid)
        assert host.startswith(str(probe.engine_bin / "pulumi-language-python ")), host
        os.kill(parent_pid(program.pid), signal.SIGKILL)
        left = wait_until_gone([program], EXIT_S)
        run.wait(timeout=EXIT_S)
    assert left == [], "the program outlived its host"
    assert run.returncode != 0, log.read_text()


@pytest.mark.parametrize("warm", [False, True], ids=["cold-provider", "warm-provider"])
def test_kill_9_of_pulumi_stops_the_language_host_and_the_dynamic_provider(
    probe: PulumiCli, tmp_path: Path, warm: bool,
):
    """After `kill -9` of pulumi mid-update, the host, the program and the provider exit by themselves, whether
    the provider's python was started by the plugin or warm by the host (then in a process group of its own)."""
    set_runtime_option(probe, warmDynamicProvider=warm)
    log = tmp_path / "up.log"
    run = probe.start("up", "--yes", env=probe_env(probe, "slow-provider"), log=log)
    try:
        provider_pid = int(wait_for_file(marks(probe) / "provider-pid", run, log))
        plugins = descendants(run.pid)
        commands = "\n".join(p.command for p in plugins)
        assert "pulumi-language-python" in commands and "pulumi-resource-pulumi-python" in commands, commands
        assert provider_pid in {p.pid for p in plugins}, commands
        started_by = "pulumi-language-python" if warm else "sdk/pulumi-resource-pulumi-python"
        assert started_by in parent_command(provider_pid), commands
        os.kill(run.pid, signal.SIGKILL)
        run.wait(timeout=EXIT_S)
        left = wait_until_gone(plugins, EXIT_S)
    finally:
        if run.poll() is None:
            run.kill()
    for process in left:  # the old host and provider ran on for ever: do not leave them to the next test
        if process.running():
            os.kill(process.pid, signal.SIGKILL)
    assert left == [], f"still running {EXIT_S} s after kill -9 of pulumi: {[p.command for p in left]}"


def test_the_warm_provider_serves_every_pass_and_destroy_starts_its_own(probe: PulumiCli, private_tmp: Path):
    """With `warmDynamicProvider: true` the provider python of each pass is the one the host started when Run
    began (its parent is the host, not the SDK's launcher), and none is left once pulumi ends. `destroy` runs no
    program, so nothing is warm: the plugin starts its python through the launcher, as without the option."""
    set_runtime_option(probe, warmDynamicProvider=True)
    env = warm_env(probe, "record-provider", private_tmp)
    probe.run("up", "--yes", env=env)
    assert "pulumi-language-python" in (marks(probe) / "provider-create").read_text()
    probe.run("destroy", "--yes", env=env)
    assert "sdk/pulumi-resource-pulumi-python" in (marks(probe) / "provider-delete").read_text()
    assert list((private_tmp / f"kimi-infra-warm-{os.getuid()}").iterdir()) == []


def test_a_warm_provider_nobody_claims_is_gone_when_its_run_ends(probe: PulumiCli, private_tmp: Path):
    """A program that registers no dynamic resource leaves the warm python unclaimed: it ends with the Run."""
    set_runtime_option(probe, warmDynamicProvider=True)
    probe.run("preview", env=warm_env(probe, "list-warm", private_tmp))
    pids = [int(pid) for pid in (marks(probe) / "warm-pids").read_text().split()]
    assert len(pids) == 1, "the host started no warm python (or more than one)"
    left = wait_until_gone([p for p in descendants(1) if p.pid in pids], EXIT_S)
    assert left == [], f"the unclaimed warm python outlived its run: {left}"


@pytest.mark.parametrize("folder_mode, owner", [(0o755, None), (0o700, 65534)], ids=["open-folder", "foreign-folder"])
def test_a_hand_over_folder_not_private_to_the_user_is_never_used(
    probe: PulumiCli, private_tmp: Path, folder_mode: int, owner: int | None,
):
    """A planted hand-over folder, open to others or another user's, is neither offered in nor claimed from: the
    plugin starts its own python, the update succeeds, and nothing is written into that folder."""
    set_runtime_option(probe, warmDynamicProvider=True)
    env = warm_env(probe, "record-provider", private_tmp)
    folder = private_tmp / f"kimi-infra-warm-{os.getuid()}"
    folder.mkdir(mode=folder_mode)
    folder.chmod(folder_mode)
    if owner is not None:
        os.chown(folder, owner, owner)
    probe.run("up", "--yes", env=env)
    assert "sdk/pulumi-resource-pulumi-python" in (marks(probe) / "provider-create").read_text()
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("how", ["666", "owner"], ids=["open-socket", "foreign-socket"])
def test_a_planted_hand_over_socket_is_never_claimed(probe: PulumiCli, private_tmp: Path, how: str):
    """The program replaces the host's socket by one open to others, or owned by another user, that answers every
    claim with a port nobody serves: the wrapper does not ask it and starts its own python; the update succeeds."""
    set_runtime_option(probe, warmDynamicProvider=True)
    probe.run("up", "--yes", env=warm_env(probe, f"plant-socket:{how}", private_tmp))
    assert "sdk/pulumi-resource-pulumi-python" in (marks(probe) / "provider-create").read_text()


def test_a_warm_provider_option_that_is_no_bool_and_no_module_is_refused_by_name(probe: PulumiCli):
    set_runtime_option(probe, warmDynamicProvider="-c print(1)")
    result = probe.run("preview", check=False)
    assert result.returncode != 0
    assert "unsupported runtime option `warmDynamicProvider: -c print(1)`" in result.stdout + result.stderr


def test_an_unsupported_toolchain_is_refused_by_name(probe: PulumiCli):
    set_runtime_option(probe, toolchain="conda")
    result = probe.run("preview", check=False)
    assert result.returncode != 0
    assert "unsupported runtime option `toolchain: conda`" in result.stdout + result.stderr


def test_the_typechecker_option_checks_the_program_before_it_runs(probe: PulumiCli):
    """`typechecker: mypy` runs mypy over the program first (mypy is in the dev virtualenv); a type error stops it."""
    set_runtime_option(probe, typechecker="mypy")
    probe.up()  # the probe program type-checks
    main = probe.project / "__main__.py"
    main.write_text(main.read_text() + 'count: int = "not a number"\n')
    result = probe.run("up", "--yes", check=False)
    assert result.returncode != 0
    assert "mypy failed" in result.stdout + result.stderr
    assert "Incompatible types in assignment" in result.stdout + result.stderr


def test_about_names_the_interpreter_of_the_virtualenv_and_the_toolchain(probe: PulumiCli):
    """One interpreter start answers About (upstream's pip toolchain starts three, one of them `pip --version`):
    the same executable, version and pip version as the interpreter's own answers."""
    about = json.loads(probe.run("about", "--json").stdout)
    runtime = about["runtime"]
    python = probe.project / "venv" / "bin" / "python"
    assert Path(runtime["executable"]).resolve() == python.resolve()
    own = subprocess.run([str(python), "-c", "import platform; print(platform.python_version())"],
                         capture_output=True, text=True, check=True).stdout.strip()
    pip = subprocess.run([str(python), "-m", "pip", "--version"], capture_output=True, text=True, check=True).stdout
    assert runtime["version"] == own  # the interpreter's version: our first host gave none
    assert runtime["toolchain"] == "Pip"  # upstream's name for it (toolchain.Name)
    assert pip.split()[:2] == ["pip", runtime["toolchainVersion"]]


@pytest.mark.parametrize("greeting", ['print("hello from a sitecustomize")', 'sys.stdout.write("no newline")'])
def test_about_reads_past_what_a_sitecustomize_prints(probe: PulumiCli, tmp_path: Path, greeting: str):
    """The interpreter may print before About's own lines (a sitecustomize on PYTHONPATH, as some hosts have),
    with or without a newline of its own."""
    env = sitecustomize(tmp_path / "site", f'import pathlib, sys\n{greeting}\n'
                                           f'pathlib.Path({str(tmp_path / "ran")!r}).write_text(sys.executable)\n')
    runtime = json.loads(probe.run("about", "--json", env=env).stdout)["runtime"]
    assert (tmp_path / "ran").is_file()  # it did print, in About's interpreter
    assert Path(runtime["executable"]).resolve() == (probe.project / "venv" / "bin" / "python").resolve()
    assert runtime["version"].startswith("3.") and runtime["toolchainVersion"].count(".") == 2


def test_about_starts_no_pip_under_the_default_toolchain(probe: PulumiCli, tmp_path: Path):
    """Without a `toolchain` option (auto: pip, as there is no uv.lock or poetry.lock), a `preview` runs no
    `python -m pip --version` for About (upstream's pip toolchain does, 0.3 s of CPU on every command)."""
    set_runtime_option(probe, toolchain=None)
    starts = tmp_path / "starts"
    env = sitecustomize(tmp_path / "site", f"import sys\nwith open({str(starts)!r}, 'a') as log:\n"
                                           "    log.write(repr(sys.argv) + '\\n')\n")
    probe.run("preview", env=env)
    argvs = starts.read_text().splitlines()
    assert argvs and not [argv for argv in argvs if argv.startswith("['-m'")], argvs


def make_wheel(folder: Path, name: str, version: str, package_files: dict[str, str] | None = None) -> Path:
    """A minimal pure-Python wheel that pip installs offline: package `name` (its __init__ says its name),
    with `package_files` beside the __init__."""
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    dist_info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f"NAME = {name!r}\n",
        **{f"{name}/{path}": text for path, text in (package_files or {}).items()},
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: kimi-infra-tests\nRoot-Is-Purelib: true\n"
                              "Tag: py3-none-any\n",
    }
    files[f"{dist_info}/RECORD"] = "".join(f"{path},,\n" for path in files) + f"{dist_info}/RECORD,,\n"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


def test_install_creates_the_named_virtualenv_and_installs_requirements(probe: PulumiCli, tmp_path: Path):
    """`pulumi install` makes `venv` and installs requirements.txt into it (ours answered success, did nothing)."""
    (probe.project / "venv").unlink()
    wheel = make_wheel(tmp_path, "hostprobe_dep", "1.0.0")
    (probe.project / "requirements.txt").write_text(f"{wheel}\n")
    probe.run("install", timeout=600)
    python = probe.project / "venv" / "bin" / "python"
    assert python.exists()
    imported = subprocess.run([str(python), "-c", "import hostprobe_dep; print(hostprobe_dep.NAME)"],
                              capture_output=True, text=True, timeout=60)
    assert imported.stdout.strip() == "hostprobe_dep", imported.stderr


def test_the_plugins_a_program_needs_come_from_its_installed_pulumi_packages(probe: PulumiCli, tmp_path: Path):
    """A Pulumi package in the virtualenv (pulumi-plugin.json) makes the host report its plugin, as upstream's does:
    the engine then looks for that plugin before the update (best effort: it is not installed here and automatic
    acquisition is off, so the engine's log says so and the program, which does not use it, runs)."""
    venv = probe.project / "venv"
    venv.unlink()
    subprocess.run(["python3", "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    shared = subprocess.run([str(PROJECT_DIR / ".venv" / "bin" / "python"), "-c",
                             "import sysconfig; print(sysconfig.get_path('purelib'))"],
                            capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "shared.pth").write_text(shared + "\n")  # pulumi and pip from the checkout's virtualenv
    plugin_json = json.dumps({"resource": True, "name": "kimiprobe", "version": "1.2.3"})
    wheel = make_wheel(tmp_path, "pulumi_kimiprobe", "0.0.1", {"pulumi-plugin.json": plugin_json})
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--quiet", str(wheel)], check=True, timeout=300)

    result = probe.run("preview", "--logtostderr", "-v=7")
    assert "plugin kimiprobe 1.2.3 not installed" in result.stderr, result.stderr[-3000:]


def test_two_stacks_up_at_once_each_get_the_warm_provider_of_their_own_run(probe: PulumiCli, private_tmp: Path,
                                                                            tmp_path: Path):
    """Two `pulumi up`s of two stacks at once, from one environment (so one hand-over folder, two offers in it at
    the same time: each program waits for the other's): each resource is served by the warm python that its own
    run's language host started, never the other run's, and nothing is left in the folder after."""
    set_runtime_option(probe, warmDynamicProvider=True)
    probe.run("stack", "init", "other")
    env = warm_env(probe, "meet-then-record", private_tmp)
    logs = {stack: tmp_path / f"up-{stack}.log" for stack in ("dev", "other")}
    runs = {stack: probe.start("up", "--yes", "--stack", stack, env=env, log=log) for stack, log in logs.items()}
    try:
        for stack, run in runs.items():
            assert run.wait(timeout=START_S) == 0, logs[stack].read_text()
    finally:
        for run in runs.values():
            run.kill()
    hosts = {stack: (marks(probe) / f"program-{stack}").read_text() for stack in runs}
    served_by = {stack: (marks(probe) / f"provider-create-{stack}.ppid").read_text() for stack in runs}
    assert len(set(hosts.values())) == 2
    assert served_by == hosts
    assert list((private_tmp / f"kimi-infra-warm-{os.getuid()}").iterdir()) == []
