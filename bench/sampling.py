"""CPU and memory of the processes in a measured run, from psutil, on this machine."""
from __future__ import annotations

import resource
import time
from dataclasses import dataclass

import psutil


def process_tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _cpu_seconds(processes) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def _rss(processes) -> int:
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Window:
    """CPU use of a server's process tree and of this harness's finished children over one run.

    The load generator runs as a child that has ended (and been reaped) by ``close``,
    so its CPU time shows in ``RUSAGE_CHILDREN``; the server's workers are still alive
    and are read through psutil.
    """

    server_pid: int

    def __post_init__(self):
        self.processes = process_tree(self.server_pid)
        self.began = time.monotonic()
        self.server_cpu = _cpu_seconds(self.processes)
        self.client_cpu = _children_cpu()

    def close(self) -> dict:
        wall = max(time.monotonic() - self.began, 1e-6)
        return {
            "wall_s": round(wall, 3),
            "server_cores": round((_cpu_seconds(self.processes) - self.server_cpu) / wall, 3),
            "server_rss_mb": round(_rss(self.processes) / 2**20, 1),
            "server_processes": len(self.processes),
            "loadgen_cores": round((_children_cpu() - self.client_cpu) / wall, 3),
        }
