"""components/providers/prompt_exit.py: the provider plugin leaves once its provider calls are done,
without waiting for the threads interpreter shutdown would join (issue 23: the engine waited 100-400 ms
for every plugin to finalize); a call that is running when it shuts down still completes."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

from components.providers import prompt_exit
from components.providers.api_key_secret import ApiKeySecretProvider
from components.providers.config_target import ConfigTargetProvider
from tests.support.project import PROJECT_DIR

# A process shaped as the plugin at its end: a provider call still running in a worker thread, and a
# non-daemon thread that never ends (interpreter shutdown would join it for ever). The main thread then
# ends, as the SDK's server does once it has stopped on the engine's SIGINT.
SHUTDOWN = """
import sys, threading, time
from components.providers import prompt_exit

class Slow(prompt_exit.TrackedProvider):
    def update(self, _id, olds, news):
        started.set()
        time.sleep(0.3)  # a write in progress when the engine closes the plugin
        open(sys.argv[1], "w").write("done")

started = threading.Event()
assert prompt_exit.install()
threading.Thread(target=threading.Event().wait).start()  # never ends
threading.Thread(target=Slow().update, args=("id", {}, {})).start()
started.wait()
"""


def test_the_plugin_leaves_after_its_running_call_without_joining_other_threads(tmp_path: Path):
    marker = tmp_path / "written"
    ended = subprocess.run([sys.executable, "-c", SHUTDOWN, str(marker)], cwd=PROJECT_DIR, capture_output=True,
                           text=True, timeout=60)  # a guard against a hang, not a measure: without the hook it hangs
    assert ended.returncode == 0, ended.stderr
    assert marker.read_text() == "done"  # the running call completed before the exit


def test_our_providers_count_their_calls_while_they_run():
    assert all(issubclass(cls, prompt_exit.TrackedProvider) for cls in (ApiKeySecretProvider, ConfigTargetProvider))
    inside, release = threading.Event(), threading.Event()

    class Held(prompt_exit.TrackedProvider):
        def diff(self, _id, olds, news):
            inside.set()
            release.wait()

    worker = threading.Thread(target=Held().diff, args=("id", {}, {}))
    worker.start()
    inside.wait()
    assert prompt_exit.running_calls() == 1
    assert not prompt_exit.wait_until_idle(timeout=0)
    release.set()
    assert prompt_exit.wait_until_idle()
    worker.join()
    assert prompt_exit.running_calls() == 0


def test_install_registers_the_exit_only_where_the_hook_exists():
    registered: list = []
    assert prompt_exit.install(registered.append) and registered == [prompt_exit.exit_when_idle]
    assert hasattr(threading, "_register_atexit")  # the pinned CPython has the hook install() uses


def test_only_the_provider_plugin_installs_it():
    """components/providers installs it when one_line.install() finds the SDK's server: never here."""
    probe = ("import threading, pulumi.dynamic; before = len(threading._threading_atexits); "
             "import components.providers; print(len(threading._threading_atexits) - before)")
    added = subprocess.run([sys.executable, "-c", probe], cwd=PROJECT_DIR, capture_output=True, text=True, check=True)
    assert added.stdout.strip() == "0"


def test_the_program_leaves_an_interrupt_without_a_traceback():
    """The host's SIGINT (the engine ended the run: Ctrl-C or a failed step) ends the program at once,
    with no KeyboardInterrupt traceback under the user's one-line error (engine twin:
    tests/engine/test_one_line.py::test_a_store_throttling_its_writes_is_one_line)."""
    waiting = ("import sys, threading; from components.program import leave_quietly_on_interrupt; "
               "leave_quietly_on_interrupt(); print('ready', flush=True); threading.Event().wait()")
    program = subprocess.Popen([sys.executable, "-c", waiting], cwd=PROJECT_DIR, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    assert program.stdout is not None and program.stdout.readline() == "ready\n"
    program.send_signal(signal.SIGINT)
    _, stderr = program.communicate(timeout=60)
    assert program.returncode == 128 + signal.SIGINT and "Traceback" not in stderr, stderr
