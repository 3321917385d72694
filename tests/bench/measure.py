"""Measuring a drain: progress polling, CPU time per process, and the machine itself.

A drain is timed between two observations of its progress counter: the first one that
sees any event done (so process start-up, group join and connection set-up are left
out) and the first one that sees all of them done. The rate is the events done between
those two observations divided by the time between them; polling every ``every``
seconds bounds the error to ``every`` over the drain's duration.

CPU time comes from ``/proc/<pid>/stat`` (user + system, all threads) for each process
of interest and its children (PostgreSQL backends, the Redis AOF-rewrite fork), and
``/proc/stat`` gives how busy the whole machine was, so what other programs on the
machine took is visible too.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

#: A function listing a process group's root pids.
PidSource = Callable[[], list[int]]


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces or parentheses: split after the last ')'.
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pid: int, *, reaped_children: bool = False) -> float:
    """User + system CPU seconds of ``pid`` (every thread), 0 when it is gone; with
    ``reaped_children``, plus those of its children that exited and were waited for."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLOCK_TICKS


#: What a group counts of its root processes: only themselves, only their children
#: (live ones and those that exited and were waited for), or both.
Scope = Literal["self", "children", "tree"]


def group_cpu_seconds(roots: list[int], scope: Scope) -> float:
    """CPU seconds of ``roots`` and/or their children (PostgreSQL's backends, the forks
    Redis uses to save snapshots and rewrite its append-only file)."""
    own = sum(cpu_seconds(pid) for pid in roots)
    if scope == "self":
        return own
    live = [pid for pid in with_children(roots) if pid not in roots]
    children = (
        sum(cpu_seconds(pid, reaped_children=True) for pid in roots)
        - own
        + sum(cpu_seconds(pid) for pid in live)
    )
    return children if scope == "children" else own + children


def with_children(roots: list[int]) -> list[int]:
    """``roots`` and their direct children."""
    wanted = set(roots)
    found = list(roots)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None and int(fields[1]) in wanted:
            found.append(int(entry.name))
    return found


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) clock ticks of all cores since boot, from ``/proc/stat``."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # guest time is already counted in user
    return total - idle, total


@dataclass(frozen=True)
class CpuSnapshot:
    at: float
    per_group: dict[str, float]
    machine: tuple[int, int]


@dataclass
class CpuProbe:
    """CPU seconds of named process groups between two snapshots; each group is its
    root pids and what of them counts."""

    groups: dict[str, tuple[PidSource, Scope]] = field(default_factory=dict)

    def snapshot(self) -> CpuSnapshot:
        per_group = {
            name: group_cpu_seconds(source(), scope)
            for name, (source, scope) in self.groups.items()
        }
        return CpuSnapshot(time.perf_counter(), per_group, machine_jiffies())

    @staticmethod
    def usage(before: CpuSnapshot, after: CpuSnapshot) -> CpuUsage:
        seconds = after.at - before.at
        per_group = {
            # A child reaped between the two reads of one snapshot can make it dip.
            name: round(max(after.per_group[name] - before.per_group.get(name, 0.0), 0.0), 2)
            for name in after.per_group
        }
        busy = after.machine[0] - before.machine[0]
        total = after.machine[1] - before.machine[1]
        return CpuUsage(seconds, per_group, busy / total if total else 0.0)


@dataclass(frozen=True)
class CpuUsage:
    """What each group used over ``seconds``; ``machine_busy`` is 0-1 of all cores."""

    seconds: float
    per_group: dict[str, float]
    machine_busy: float

    def cores(self) -> dict[str, float]:
        """Average cores each group kept busy."""
        return {name: round(cpu / self.seconds, 2) for name, cpu in self.per_group.items()}

    def others_cores(self) -> float:
        """Average cores used by everything not in a group (other programs, the kernel)."""
        busy = self.machine_busy * (os.cpu_count() or 1)
        return round(max(busy - sum(self.per_group.values()) / self.seconds, 0.0), 2)


@dataclass(frozen=True)
class Drain:
    """Events done between two progress observations."""

    events: int
    seconds: float
    cpu: CpuUsage

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def observe_drain(
    progress: Callable[[], int],
    total: int,
    probe: CpuProbe,
    *,
    timeout: float,
    every: float = 0.1,
    check: Callable[[], None] = lambda: None,
    on_start: Callable[[], None] = lambda: None,
) -> Drain:
    """Poll ``progress`` until it reaches ``total``; time from the first progress seen.

    ``check`` runs on every poll (it raises when the service died); ``on_start`` runs once
    the first progress is seen (e.g. to attach a profiler).
    """
    deadline = time.monotonic() + timeout
    start: tuple[int, CpuSnapshot] | None = None
    while True:
        done = progress()
        if start is None and done > 0:
            start = (done, probe.snapshot())
            on_start()
        if done >= total:
            end = probe.snapshot()
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"drain not finished after {timeout}s: {done} of {total} done")
        check()
        time.sleep(every)
    assert start is not None
    first_done, first = start
    usage = CpuProbe.usage(first, end)
    return Drain(done - first_done, usage.seconds, usage)


def machine_info() -> dict[str, object]:
    """Cores, memory, CPU model, kernel and Python of this machine."""
    model = "unknown"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory_kib = 0
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
                break
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "cpu_model": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def load_average() -> float:
    """The 1-minute load average (how busy the machine was before a run)."""
    return round(os.getloadavg()[0], 2)


def per_event_us(cpu: Mapping[str, float], events: int) -> dict[str, float]:
    """CPU microseconds per event of each group."""
    if not events:
        return {}
    return {name: round(seconds / events * 1e6, 1) for name, seconds in cpu.items()}
