"""CPU and memory of the server's processes over a measured run.

On this machine psutil reads the server's process tree; on a lab host the same is
read from ``/proc`` through the host's shell, for the server's session (the harness
starts it with ``setsid``). The load generator's CPU comes from the shell that runs
it (see ``loadgen.run``).
"""
from __future__ import annotations

import time

import psutil

from bench.hosts import Host


def process_tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _local(processes) -> tuple[float, int, int]:
    cpu, rss = 0.0, 0
    for process in processes:
        try:
            times, memory = process.cpu_times(), process.memory_info()
        except psutil.NoSuchProcess:
            continue
        cpu += times.user + times.system
        rss += memory.rss
    return cpu, rss, len(processes)


def parse_session_stat(text: str) -> tuple[float, int, int]:
    """``getconf CLK_TCK; getconf PAGESIZE; cat /proc/PID/stat...`` -> (cpu seconds, rss bytes, processes)."""
    lines = text.splitlines()
    ticks, page = int(lines[0]), int(lines[1])
    cpu = rss = count = 0
    for line in lines[2:]:
        fields = line.rsplit(")", 1)[-1].split()  # the command name may hold spaces and ')'
        if len(fields) < 22:
            continue
        cpu += int(fields[11]) + int(fields[12])  # utime, stime
        rss += int(fields[21])
        count += 1
    return cpu / ticks, rss * page, count


def _remote(host: Host, session: int) -> tuple[float, int, int]:
    out = host.run(f"getconf CLK_TCK; getconf PAGESIZE; for p in $(pgrep -s {session}); do "
                   f"cat /proc/$p/stat 2>/dev/null; done", warn=True).stdout
    return parse_session_stat(out)


class Window:
    """The server's CPU use and memory over one measured run."""

    def __init__(self, server: Host, server_pid: int):
        self.server, self.pid = server, server_pid
        self.processes = process_tree(server_pid) if server.is_local else None
        self.began = time.monotonic()
        self.cpu = self._read()[0]

    def _read(self) -> tuple[float, int, int]:
        return _local(self.processes) if self.processes is not None else _remote(self.server, self.pid)

    def close(self, loadgen_cpu_s: float | None = None) -> dict:
        """The sample; ``loadgen_cpu_s`` (what the load generator used) becomes its cores."""
        cpu, rss, count = self._read()
        wall = max(time.monotonic() - self.began, 1e-6)
        sample = {"wall_s": round(wall, 3), "server_cores": round((cpu - self.cpu) / wall, 3),
                  "server_rss_mb": round(rss / 2**20, 1), "server_processes": count}
        if loadgen_cpu_s is not None:
            sample["loadgen_cores"] = round(loadgen_cpu_s / wall, 3)
        return sample
