"""CPU and memory of the server's processes over a measured run.

On this machine psutil reads the server's process tree; on a lab host the same is
read from ``/proc`` by a job started with the load (see ``together``), for the
server's session (the harness starts it with ``setsid``). The load generators' CPU
comes from the shells that run them (see ``loading``).
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


def watch_script(session: int) -> str:
    """The body of a job on the server host: the session's /proc figures once told to go, again once its input closes."""
    snapshot = (f"getconf CLK_TCK; getconf PAGESIZE; for p in $(pgrep -s {session}); do "
                f"cat /proc/$p/stat 2>/dev/null; done")
    return f"echo {BEGIN}; {snapshot}; read -r _ <&3; echo {END}; {snapshot}\n"


BEGIN, END = "-- begin", "-- end"


def parse_watch(stdout: str) -> tuple[tuple[float, int, int], tuple[float, int, int]] | None:
    """The two snapshots a watch job printed, or None when it did not print both."""
    _, found, rest = stdout.partition(BEGIN + "\n")
    first, found_end, second = rest.partition(END + "\n")
    if not (found and found_end):
        return None
    try:
        return parse_session_stat(first), parse_session_stat(second)
    except (ValueError, IndexError):
        return None


class Window:
    """The server's CPU use and memory over one measured run.

    On this machine psutil reads the server's tree when the window opens and closes; on
    a lab host a watch job, started with the round's load jobs, reads it (see ``script``).
    """

    def __init__(self, server: Host, server_pid: int):
        self.server, self.pid = server, server_pid
        self.processes = process_tree(server_pid) if server.is_local else None
        self.began = time.monotonic()
        self.cpu = 0.0

    def script(self) -> str | None:
        """The watch job's body for a server on a lab host; None on this machine."""
        return None if self.processes is not None else watch_script(self.pid)

    def open(self) -> None:
        """The run begins now."""
        self.began = time.monotonic()
        if self.processes is not None:
            self.cpu = _local(self.processes)[0]

    def close(self, watched: str | None = None, loadgen_cpu_s: float | None = None) -> dict:
        """The sample; ``watched`` is the watch job's output on a lab host, ``loadgen_cpu_s`` the
        load generators' CPU, which becomes their cores."""
        wall = max(time.monotonic() - self.began, 1e-6)
        if self.processes is not None:
            first, (cpu, rss, count) = self.cpu, _local(self.processes)
        else:
            snapshots = parse_watch(watched or "")
            if snapshots is None:
                return {"wall_s": round(wall, 3)}
            (first, _, _), (cpu, rss, count) = snapshots
        sample = {"wall_s": round(wall, 3), "server_cores": round((cpu - first) / wall, 3),
                  "server_rss_mb": round(rss / 2**20, 1), "server_processes": count}
        if loadgen_cpu_s is not None:
            sample["loadgen_cores"] = round(loadgen_cpu_s / wall, 3)
        return sample
