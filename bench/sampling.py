"""CPU and memory of the processes in a measured run.

On this machine psutil reads the server's process tree, and the load generator (a
child of the harness that has ended by the time the run is over) shows in
``RUSAGE_CHILDREN``. On a lab host the same is read from ``/proc`` over the host's
shell: the server's session (the harness starts it with ``setsid``), and for the load
generator the host's busy CPU time, less the server's when both share the host.
"""
from __future__ import annotations

import resource
import time

import psutil

from .hosts import Host


def process_tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _local_server(processes) -> tuple[float, int]:
    cpu, rss = 0.0, 0
    for process in processes:
        try:
            times, memory = process.cpu_times(), process.memory_info()
        except psutil.NoSuchProcess:
            continue
        cpu += times.user + times.system
        rss += memory.rss
    return cpu, rss


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def parse_session_stat(text: str) -> tuple[float, int, int]:
    """``getconf CLK_TCK; getconf PAGESIZE; cat /proc/PID/stat...`` -> (cpu seconds, rss bytes, processes)."""
    lines = text.splitlines()
    ticks, page = int(lines[0]), int(lines[1])
    cpu = rss = count = 0
    for line in lines[2:]:
        fields = line.rsplit(")", 1)[-1].split()
        if len(fields) < 22:
            continue
        cpu += int(fields[11]) + int(fields[12])  # utime, stime
        rss += int(fields[21])
        count += 1
    return cpu / ticks, rss * page, count


def parse_proc_stat(text: str) -> float:
    """``getconf CLK_TCK; head -n1 /proc/stat`` -> busy CPU seconds of the whole host."""
    lines = text.splitlines()
    ticks = int(lines[0])
    user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in lines[1].split()[1:9])
    return (user + nice + system + irq + softirq + steal) / ticks


def _remote_server(host: Host, session: int) -> tuple[float, int, int]:
    out = host.run(f"getconf CLK_TCK; getconf PAGESIZE; for p in $(pgrep -s {session}); do "
                   f"cat /proc/$p/stat 2>/dev/null; done", warn=True).stdout
    return parse_session_stat(out)


def _remote_busy(host: Host) -> float:
    return parse_proc_stat(host.run("getconf CLK_TCK; head -n1 /proc/stat").stdout)


class Window:
    """CPU use of the server and the load generator over one measured run."""

    def __init__(self, server: Host, server_pid: int, load: Host):
        self.server, self.load, self.pid = server, load, server_pid
        self.processes = process_tree(server_pid) if server.is_local else None
        self.began = time.monotonic()
        self.server_cpu = self._server()[0]
        self.load_cpu = self._load()

    def _server(self) -> tuple[float, int, int]:
        if self.processes is not None:
            return (*_local_server(self.processes), len(self.processes))
        return _remote_server(self.server, self.pid)

    def _load(self) -> float:
        return _children_cpu() if self.load.is_local else _remote_busy(self.load)

    def close(self) -> dict:
        load_cpu = self._load()
        server_cpu, rss, count = self._server()
        wall = max(time.monotonic() - self.began, 1e-6)
        server_cores = (server_cpu - self.server_cpu) / wall
        load_cores = (load_cpu - self.load_cpu) / wall
        if not self.load.is_local and self.load is self.server:
            load_cores = max(load_cores - server_cores, 0.0)  # the host's busy time includes the server's
        return {"wall_s": round(wall, 3), "server_cores": round(server_cores, 3),
                "server_rss_mb": round(rss / 2**20, 1), "server_processes": count,
                "loadgen_cores": round(load_cores, 3)}
