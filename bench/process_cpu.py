"""Where a run's CPU went, process by process: a summary of a Linux process-accounting file.

The kernel writes one record for every process that exits (short-lived ones too, which a /proc sampler
misses): its command name, parent, and user+system CPU. Record a run, as root, with the `acct` package:

    accton /tmp/run.pacct && make test; accton off
    .venv/bin/python bench/process_cpu.py /tmp/run.pacct [TOP]

It prints the CPU by command name, by (command, parent command), and the processes over 10 CPU-s.
Command names are what the process was called when it ended, at most 15 characters: Node.js and gRPC
processes often end under the name of a thread (`SignalInspector`, `V8Worker`, `event_engine`), so read
them with their parent (a gateway is a long-lived one under `python`). Everything on the machine is
counted, not only the run's processes: keep the machine otherwise quiet.
"""

from __future__ import annotations

import struct
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

RECORD = struct.Struct("<BBHIIIIIIf8H16s")
"""struct acct_v3 (linux/acct.h): flag, version, tty, exitcode, uid, gid, pid, ppid, btime, etime, 8 comp_t, comm."""
TICKS_PER_SECOND = 100  # AHZ: the unit of the record's comp_t times
BIG_PROCESS_S = 10.0


@dataclass(frozen=True)
class Process:
    pid: int
    ppid: int
    command: str
    cpu_s: float
    elapsed_s: float


def comp_t(value: int) -> int:
    """A comp_t: 13-bit mantissa, 3-bit base-8 exponent."""
    return (value & 0x1FFF) << (3 * (value >> 13))


def read_processes(path: Path) -> list[Process]:
    data = path.read_bytes()
    if not data or len(data) % RECORD.size:
        raise SystemExit(f"{path}: not a process-accounting file ({len(data)} bytes, records are {RECORD.size}); "
                         "fix: give the file `accton` wrote")
    processes = []
    for offset in range(0, len(data) - RECORD.size + 1, RECORD.size):
        fields = RECORD.unpack_from(data, offset)
        if fields[1] != 3:  # not an acct_v3 record
            raise SystemExit(f"{path}: record {offset // RECORD.size} is not acct v3; fix: give the file `accton` "
                             "wrote on Linux")
        pid, ppid, elapsed = fields[6], fields[7], fields[9]
        cpu = (comp_t(fields[10]) + comp_t(fields[11])) / TICKS_PER_SECOND
        command = fields[18].split(b"\0")[0].decode(errors="replace")
        processes.append(Process(pid, ppid, command, cpu, elapsed / TICKS_PER_SECOND))
    return processes


def table(title: str, cpu: dict[str, float], count: Counter[str], top: int) -> None:
    print(title)
    for name, seconds in sorted(cpu.items(), key=lambda item: -item[1])[:top]:
        print(f"{seconds:9.1f} CPU-s {count[name]:6d} processes  {name}")


def main() -> None:
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    processes = read_processes(Path(sys.argv[1]))
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 25
    by_pid = {process.pid: process.command for process in processes}  # a reused pid: its last process
    cpu: dict[str, float] = defaultdict(float)
    count: Counter[str] = Counter()
    pair_cpu: dict[str, float] = defaultdict(float)
    pair_count: Counter[str] = Counter()
    for process in processes:
        pair = f"{process.command} <- {by_pid.get(process.ppid, '?')}"
        cpu[process.command] += process.cpu_s
        count[process.command] += 1
        pair_cpu[pair] += process.cpu_s
        pair_count[pair] += 1
    print(f"{sum(cpu.values()):.1f} CPU-s in {len(processes)} processes")
    table("--- by command", cpu, count, top)
    table("--- by command and parent command", pair_cpu, pair_count, top)
    print(f"--- processes over {BIG_PROCESS_S:.0f} CPU-s (CPU, elapsed)")
    for process in sorted(processes, key=lambda p: -p.cpu_s):
        if process.cpu_s < BIG_PROCESS_S:
            break
        print(f"{process.cpu_s:9.1f} {process.elapsed_s:9.1f} s  pid {process.pid} {process.command} "
              f"<- {by_pid.get(process.ppid, '?')}")


if __name__ == "__main__":
    main()
