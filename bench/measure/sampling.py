"""CPU and memory of the server's processes over a measured run.

On this machine psutil reads the server's process tree; on a lab host the same is
read from ``/proc`` by a command sent through the case's shell on that host, for the
server's session (the harness starts it with ``setsid``). The load generators' CPU
comes from the shells that run them (see ``together``).
"""
from __future__ import annotations

import os
import shlex
import time

import psutil

from bench.hosts import Host


def process_tree(pid: int, started: int | None) -> list[psutil.Process]:
    """The process ``pid`` started at ``started`` (clock ticks since boot) and its descendants; none when
    that pid is gone or names another process now."""
    try:
        root = psutil.Process(pid)
        since = round((root.create_time() - psutil.boot_time()) * os.sysconf("SC_CLK_TCK"))
        return [root, *root.children(recursive=True)] if since == started else []
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


def snapshot_command(session: int) -> str:
    """One line that prints the session's /proc figures (see :func:`parse_session_stat`)."""
    return shlex.join(["sh", "-c", f"getconf CLK_TCK; getconf PAGESIZE; for p in $(pgrep -s {int(session)}); do "
                                   f"cat /proc/$p/stat 2>/dev/null; done"])


class Window:
    """The server's CPU use and memory over one measured run.

    On this machine psutil reads the server's tree when the window opens and closes; on
    a lab host, :func:`snapshot_command` run there at both moments (through the case's
    shell on that host, so each costs no login).
    """

    def __init__(self, server: Host, server_pid: int, started: int | None = None):
        self.server, self.pid = server, server_pid
        self.processes = process_tree(server_pid, started) if server.is_local else None
        self.began = time.monotonic()
        self.first: tuple[float, int, int] | None = None

    @property
    def remote(self) -> bool:
        return self.processes is None

    def open(self) -> None:
        """The run begins now (on a lab host, the first reading comes to :meth:`opened`)."""
        self.began = time.monotonic()
        if self.processes is not None:
            self.first = _local(self.processes)

    def opened(self, snapshot: str) -> None:
        """What the snapshot command printed as the run began, on a lab host."""
        self.first = _parsed(snapshot)

    def close(self, snapshot: str | None = None, loadgen_cpu_s: float | None = None) -> dict:
        """The sample; ``snapshot`` what the snapshot command printed now, on a lab host; ``loadgen_cpu_s`` the load generators' CPU, which
        becomes their cores."""
        wall = max(time.monotonic() - self.began, 1e-6)
        last = _local(self.processes) if self.processes is not None else _parsed(snapshot)
        if self.first is None or last is None:
            return {"wall_s": round(wall, 3)}
        cpu, rss, count = last
        sample = {"wall_s": round(wall, 3), "server_cores": round((cpu - self.first[0]) / wall, 3),
                  "server_rss_mb": round(rss / 2**20, 1), "server_processes": count}
        if loadgen_cpu_s is not None:
            sample["loadgen_cores"] = round(loadgen_cpu_s / wall, 3)
        return sample


def _parsed(snapshot: str | None) -> tuple[float, int, int] | None:
    try:
        return parse_session_stat(snapshot or "")
    except (ValueError, IndexError):
        return None
