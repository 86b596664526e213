"""Processes as Linux shows them in /proc: a process tree, and whether a process still runs."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class Process:
    """One process, told apart from a later one with the same pid by its start time."""

    pid: int
    start_ticks: int
    command: str

    def running(self) -> bool:
        """Whether this very process still runs (a zombie, or a new process with its pid, does not count)."""
        stat = _stat(self.pid)
        return stat is not None and stat[19] == str(self.start_ticks) and stat[0] != "Z"


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after `(comm)`: state, ppid, pgrp, ...; None if there is no such process."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 1:].split()


def _command(pid: int) -> str:
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def parent_pid(pid: int) -> int:
    """The pid of the parent of process `pid` (ProcessLookupError if there is no such process)."""
    stat = _stat(pid)
    if stat is None:
        raise ProcessLookupError(pid)
    return int(stat[1])


def parent_command(pid: int) -> str:
    """The command line of the parent of process `pid`, its arguments joined by spaces."""
    return _command(parent_pid(pid))


def descendants(root: int) -> list[Process]:
    """Every live process below `root` (children, their children, ...)."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None and stat[0] != "Z":
            children.setdefault(int(stat[1]), []).append(int(entry.name))
    found: list[Process] = []
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        stat = _stat(pid)
        if stat is not None:
            found.append(Process(pid, int(stat[19]), _command(pid)))
        todo.extend(children.get(pid, []))
    return found


def wait_until_gone(processes: list[Process], deadline_s: float) -> list[Process]:
    """Polls until none of `processes` runs or `deadline_s` passes; returns those still running."""
    deadline = time.monotonic() + deadline_s
    while (left := [p for p in processes if p.running()]) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left
