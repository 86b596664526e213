"""A Python Pulumi program laid out as `pulumi new python` lays one out, for the language-host tests.

It reports what the language host gave it (entry point, working directory, config) as stack outputs; the
environment variable HOST_PROBE picks a behaviour that a test observes through files in HOST_PROBE_DIR:
`wait-for-cancel` leaves the language host's process group (the engine interrupts that whole group when
it closes the host, which would hide what the host itself does), waits until it gets a signal and records
which; `ignore-cancel` does the same but carries on after the signal; `slow-provider` registers a
resource whose dynamic provider records its pid and then takes minutes to create it.
"""

import os
import signal
import sys
import time
from pathlib import Path

import pulumi
import pulumi.dynamic

PROBE = os.environ.get("HOST_PROBE", "")
MARKS = Path(os.environ.get("HOST_PROBE_DIR", "."))
WAIT_S = 300  # far longer than any test waits: the test ends the run, never this timeout


class SlowProvider(pulumi.dynamic.ResourceProvider):
    """Records the provider process's pid, then creates nothing for WAIT_S seconds."""

    def create(self, props):
        (Path(props["marks"]) / "provider-pid").write_text(str(os.getpid()))
        time.sleep(WAIT_S)
        return pulumi.dynamic.CreateResult("slow", {})


class Slow(pulumi.dynamic.Resource):
    """A resource of SlowProvider's."""

    def __init__(self, name: str, marks: str) -> None:
        super().__init__(SlowProvider(), name, {"marks": marks})


def record_signal(signum, _frame):
    (MARKS / "program-signal").write_text(signal.Signals(signum).name)
    sys.exit(1)


if PROBE in ("wait-for-cancel", "ignore-cancel"):
    os.setpgid(0, 0)
    if PROBE == "wait-for-cancel":
        signal.signal(signal.SIGINT, record_signal)
        signal.signal(signal.SIGTERM, record_signal)
    else:  # records the signal and carries on: only SIGKILL ends it
        signal.signal(signal.SIGINT, lambda signum, _frame: (MARKS / "program-signal").write_text("SIGINT"))
    # written whole then renamed: the test polls for the file and must never read it half-written
    (MARKS / "program-pid.tmp").write_text(str(os.getpid()))
    (MARKS / "program-pid.tmp").rename(MARKS / "program-pid")
    time.sleep(WAIT_S)
elif PROBE == "slow-provider":
    Slow("slow", str(MARKS))

pulumi.export("entry", Path(__file__).name)
pulumi.export("cwd", os.getcwd())
pulumi.export("greeting", pulumi.Config().get("greeting") or "no config")
