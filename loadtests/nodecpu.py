"""CPU of local node processes, read from the OS (psutil over /proc), not from the node's own metrics,
and the split of the machine's CPUs between the nodes and the load generator."""

from __future__ import annotations

import os
from collections.abc import Iterable

import psutil


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a node process and its children (uvicorn workers)."""
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
        return sum(p.cpu_times().user + p.cpu_times().system for p in procs)
    except psutil.Error:
        return 0.0


def runqueue_wait_seconds(pid: int) -> float:
    """Seconds a node process and its children spent runnable but waiting for a CPU (the second field
    of ``/proc/PID/schedstat``, in ns; Linux's Documentation/scheduler/sched-stats.rst): how much the
    machine, not the node, held the node up."""
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0
    for p in procs:
        try:
            with open(f"/proc/{p.pid}/schedstat", encoding="ascii") as stat:
                total += int(stat.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue  # exited, or a kernel without schedstats
    return total / 1e9


def split_cpus() -> tuple[list[int], list[int]] | None:
    """``(node CPUs, load-generator CPUs)``: the upper and lower half of the CPUs this process may use,
    or ``None`` on a machine with one (then nothing is pinned). Separate CPUs keep Locust's own work
    out of the nodes' CPU time and queues; other tenants of the machine are not kept out."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    half = len(cpus) // 2
    return cpus[half:], cpus[:half]


def pin(pids: Iterable[int], cpus: list[int]) -> None:
    """Restrict processes and their children to ``cpus`` (children started later inherit it)."""
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            for p in [proc, *proc.children(recursive=True)]:
                os.sched_setaffinity(p.pid, cpus)
        except (psutil.Error, ProcessLookupError):
            continue  # a process that exited is not there to pin
