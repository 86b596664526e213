"""A Python Pulumi program laid out as `pulumi new python` lays one out, for the language-host tests.

It reports what the language host gave it (entry point, working directory, config) as stack outputs; the
environment variable HOST_PROBE picks a behaviour that a test observes through files in HOST_PROBE_DIR:
`wait-for-cancel` leaves the language host's process group (the engine interrupts that whole group when
it closes the host, which would hide what the host itself does), waits until it gets a signal and records
which; `ignore-cancel` does the same but carries on after the signal; `slow-provider` registers a
resource whose dynamic provider records its pid and then takes minutes to create it; `record-provider`
registers a resource whose provider records, when it creates or deletes it, the command line of the provider
process's parent (the SDK's launcher, or the language host that started it warm); `list-warm` records the
pids of the warm provider pythons the language host started; `plant-socket:MODE` or `plant-socket:owner`
replaces the host's hand-over socket by one of its own (world-open, or owned by another user) that answers a
claim with a port nobody serves, then registers a `record-provider` resource; `meet-then-record` (two stacks
run at once) records the pid of its language host, waits until the other stack's program has done the same,
then registers a `record-provider` resource tagged with its stack, whose provider records its parent's pid too.
"""

import os
import signal
import socket
import sys
import threading
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


class RecordingProvider(pulumi.dynamic.ResourceProvider):
    """Records, per operation, the command line and the pid of the provider process's parent (in
    `provider-<operation>[-<tag>]` and the same name + `.ppid`)."""

    def record(self, props, operation):
        name = f"provider-{operation}" + (f"-{props['tag']}" if props.get("tag") else "")
        parent = Path(f"/proc/{os.getppid()}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        (Path(props["marks"]) / name).write_text(parent)
        (Path(props["marks"]) / f"{name}.ppid").write_text(str(os.getppid()))

    def create(self, props):
        self.record(props, "create")
        return pulumi.dynamic.CreateResult("recorded", props)

    def delete(self, id, props):
        self.record(props, "delete")


class Recorded(pulumi.dynamic.Resource):
    """A resource of RecordingProvider's."""

    def __init__(self, name: str, marks: str, tag: str = "") -> None:
        super().__init__(RecordingProvider(), name, {"marks": marks, "tag": tag})


def warm_pythons():
    """The host's other children that serve the dynamic-provider protocol: its warm pythons."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == os.getppid() and b"pulumi.dynamic" in command:
            found.append(stat.parent.name)
    return found


def language_host_pid():
    """The pid of this program's language host: its nearest ancestor whose executable is pulumi-language-python."""
    pid = os.getppid()
    while pid > 1:
        executable = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
        if Path(executable.decode()).name == "pulumi-language-python":
            return pid
        pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    raise RuntimeError("no pulumi-language-python among this program's ancestors")


def meet_the_other_stack(stack):
    """Records this program's language host as `program-<stack>`, then waits until two stacks have."""
    (MARKS / f"program-{stack}.tmp").write_text(str(language_host_pid()))
    (MARKS / f"program-{stack}.tmp").rename(MARKS / f"program-{stack}")
    deadline = time.monotonic() + WAIT_S
    while len([path for path in MARKS.glob("program-*") if path.suffix != ".tmp"]) < 2:
        if time.monotonic() > deadline:
            raise RuntimeError("the other stack's program never started")
        time.sleep(0.05)


def plant_socket(how):
    """Replaces the host's hand-over socket (the only one in the private folder) by ours, which is open to
    everyone (`how` an octal mode) or another user's (`owner`), and answers every claim with port 1."""
    folder = Path(os.environ["TMPDIR"]) / f"kimi-infra-warm-{os.getuid()}"
    (path,) = folder.glob("*.sock")
    path.unlink()
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen()
    if how == "owner":
        os.chmod(path, 0o600)
        os.chown(path, 65534, 65534)
    else:
        os.chmod(path, int(how, 8))

    def answer():
        while True:
            conn, _ = server.accept()
            conn.recv(256)
            fds = [os.open("/dev/null", os.O_RDONLY) for _ in range(3)]
            socket.send_fds(conn, [b"port 1\n"], fds)
            conn.close()

    threading.Thread(target=answer, daemon=True).start()


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
elif PROBE == "record-provider":
    Recorded("recorded", str(MARKS))
elif PROBE == "list-warm":
    (MARKS / "warm-pids").write_text(" ".join(warm_pythons()))
elif PROBE == "meet-then-record":
    meet_the_other_stack(pulumi.get_stack())
    Recorded("recorded", str(MARKS), tag=pulumi.get_stack())
elif PROBE.startswith("plant-socket:"):
    plant_socket(PROBE.split(":", 1)[1])
    Recorded("recorded", str(MARKS))

pulumi.export("entry", Path(__file__).name)
pulumi.export("cwd", os.getcwd())
pulumi.export("greeting", pulumi.Config().get("greeting") or "no config")
