"""CPU and memory over a measured run: the server's processes, its whole machine, the harness.

On this machine psutil reads the server's process tree and ``/proc/stat``; on a lab host
the same is read from ``/proc`` by a command sent through the case's shell on that host,
for the server's session (the harness starts it with ``setsid``). Each process counts its
own CPU and its reaped children's, so a worker that dies mid-run keeps what it used (its
parent's ``cutime``/``cstime`` take it over). The load generators' CPU comes from the
shells that run them (see ``together``).

Every figure is CPU seconds over the window divided by the load tool's own seconds
(``LoadResult.seconds``): the window also holds the tool's start and the reading of its
output, which would make every side's cores read low.
"""
from __future__ import annotations

import os
import shlex
import time
from dataclasses import dataclass, field

import psutil

from bench.hosts import Host


@dataclass(frozen=True)
class CpuTicks:
    """One CPU's line of ``/proc/stat``, in clock ticks."""

    busy: int  # user + nice + system + irq + softirq (guest time is inside user and nice)
    steal: int  # taken by the hypervisor for other guests
    idle: int  # idle + iowait


@dataclass(frozen=True)
class Reading:
    """One moment's look at the server's machine."""

    server_cpu_s: float | None  # the server's processes and their reaped children; None when it was gone
    server_rss: int
    server_processes: int
    cpus: dict[int, CpuTicks]
    ticks: int  # clock ticks per second
    processes: dict[int, float] = field(default_factory=dict)  # pid -> the CPU seconds it used itself (not children's)


def parse_proc_stat(text: str) -> dict[int, CpuTicks]:
    """The per-CPU lines (``cpu0``, ``cpu1``...) of ``/proc/stat``; other lines are skipped."""
    cpus = {}
    for line in text.splitlines():
        name, *values = line.split() or [""]
        if not (name.startswith("cpu") and name[3:].isdigit()) or len(values) < 8:
            continue
        user, nice, system, idle, iowait, irq, softirq, steal = map(int, values[:8])
        cpus[int(name[3:])] = CpuTicks(busy=user + nice + system + irq + softirq, steal=steal, idle=idle + iowait)
    return cpus


def parse_snapshot(text: str) -> Reading:
    """What :func:`snapshot_command` printed: clock ticks, page size, the per-CPU lines of
    ``/proc/stat``, then ``/proc/PID/stat`` of each process of the server's session."""
    lines = text.splitlines()
    ticks, page = int(lines[0]), int(lines[1])
    cpu = rss = count = 0
    own = {}
    for line in lines[2:]:
        if line.startswith("cpu"):
            continue
        pid, _, rest = line.partition(" ")
        fields = rest.rsplit(")", 1)[-1].split()  # the command name may hold spaces and ')'
        if len(fields) < 22 or not pid.isdigit():
            continue
        cpu += sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
        own[int(pid)] = (int(fields[11]) + int(fields[12])) / ticks
        rss += int(fields[21])
        count += 1
    return Reading(server_cpu_s=cpu / ticks if count else None, server_rss=rss * page, server_processes=count,
                   cpus=parse_proc_stat(text), ticks=ticks, processes=own)


def snapshot_command(session: int) -> str:
    """One line that prints the machine's and the session's /proc figures (see :func:`parse_snapshot`)."""
    return shlex.join(["sh", "-c", f"getconf CLK_TCK; getconf PAGESIZE; grep '^cpu[0-9]' /proc/stat; "
                                   f"for p in $(pgrep -s {int(session)}); do cat /proc/$p/stat 2>/dev/null; done"])


def process_tree(pid: int, started: int | None) -> list[psutil.Process]:
    """The process ``pid`` started at ``started`` (clock ticks since boot) and its descendants; none when
    that pid is gone or names another process now."""
    try:
        root = psutil.Process(pid)
        since = round((root.create_time() - psutil.boot_time()) * os.sysconf("SC_CLK_TCK"))
        return [root, *root.children(recursive=True)] if since == started else []
    except psutil.NoSuchProcess:
        return []


def local_reading(pid: int, started: int | None) -> Reading:
    """The server's tree (the process ``pid`` started at ``started``) and this machine's CPUs, read here."""
    cpu, rss, count, own = 0.0, 0, 0, {}
    for process in process_tree(pid, started):
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        cpu += times.user + times.system + times.children_user + times.children_system
        own[process.pid] = times.user + times.system
        count += 1
        try:
            rss += process.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    with open("/proc/stat") as stat:
        cpus = parse_proc_stat(stat.read())
    return Reading(server_cpu_s=cpu if count else None, server_rss=rss, server_processes=count, cpus=cpus,
                   ticks=os.sysconf("SC_CLK_TCK"), processes=own)


def harness_cpu_s() -> float:
    """This harness's own CPU so far, every thread of it."""
    times = psutil.Process().cpu_times()
    return times.user + times.system


def host_cores(first: Reading, last: Reading, cpus: tuple[int, ...], seconds: float) -> dict:
    """The machine's CPUs in play (``cpus``, or all of them) between two readings: how many, and
    their busy and steal cores over ``seconds`` (at most the CPUs there are)."""
    chosen = [cpu for cpu in (cpus or sorted(last.cpus)) if cpu in first.cpus and cpu in last.cpus]
    if not chosen:
        return {}
    busy = sum(last.cpus[cpu].busy - first.cpus[cpu].busy for cpu in chosen) / last.ticks / seconds
    steal = sum(last.cpus[cpu].steal - first.cpus[cpu].steal for cpu in chosen) / last.ticks / seconds
    steal = min(steal, len(chosen))
    return {"host_cpus": len(chosen), "host_busy_cores": min(busy, len(chosen) - steal), "steal_cores": steal}


@dataclass(frozen=True)
class Placement:
    """Where a run's parts ran, seen from the server's machine: with a partition, the server's CPUs
    and the load generator's (when it shares the machine); for each load host whether it runs there;
    whether this harness does."""

    server_cpus: tuple[int, ...] = ()
    load_cpus: tuple[int, ...] = ()
    colocated: tuple[bool, ...] = ()
    harness_here: bool = False

    @property
    def cpus(self) -> tuple[int, ...]:
        """The machine's CPUs in play: the partition's, or () for all of them."""
        return tuple(sorted(set(self.server_cpus) | set(self.load_cpus)))


def run_sample(first: Reading | None, last: Reading | None, placement: Placement, *, seconds: float | None,
               wall: float, harness_cpu_s: float, loadgen_cpu_s: list[float | None]) -> dict:
    """A measured run's sample from the readings around it: ``seconds`` the load tool's own (the
    cores' denominator; ``wall`` when it has none), ``harness_cpu_s`` what this harness used meanwhile,
    ``loadgen_cpu_s`` each load host's CPU.

    The machine's CPUs in play give its busy and steal cores; "other processes" are its busy cores
    less the server, the load generators on that machine and the harness when it runs there. With a
    partition, each side's CPUs also say how busy they were (busy + steal), whoever kept them busy.
    """
    span = seconds if seconds and seconds > 0 else wall
    sample = {"wall_s": round(wall, 3), "harness_cores": round(harness_cpu_s / span, 4)}
    if loadgen_cpu_s and None not in loadgen_cpu_s:
        sample["loadgen_cores"] = round(sum(loadgen_cpu_s) / span, 3)
    if first is None or last is None or first.server_cpu_s is None or last.server_cpu_s is None:
        return sample
    server = max(last.server_cpu_s - first.server_cpu_s, 0.0) / span
    sample.update(server_cores=round(server, 3), server_rss_mb=round(last.server_rss / 2**20, 1),
                  server_processes=last.server_processes)
    busiest = [last.processes[pid] - first.processes[pid] for pid in last.processes if pid in first.processes]
    if busiest:  # one worker can be the limit while the others idle (connections accepted unevenly)
        sample["busiest_process_cores"] = round(max(max(busiest), 0.0) / span, 3)
    host = host_cores(first, last, placement.cpus, span)
    if host:
        beside = sum(cpu or 0.0 for cpu, here in zip(loadgen_cpu_s, placement.colocated) if here) / span
        harness = harness_cpu_s / span if placement.harness_here else 0.0
        host["other_cores"] = max(host["host_busy_cores"] - server - beside - harness, 0.0)
        for side, cpus in (("server", placement.server_cpus), ("load", placement.load_cpus)):
            busy = host_cores(first, last, cpus, span) if cpus else {}
            if busy:
                host[f"{side}_cpus_busy_cores"] = busy["host_busy_cores"] + busy["steal_cores"]
        sample.update({key: round(value, 3) for key, value in host.items()})
    return sample


class Window:
    """What the server's machine did over one measured run.

    On this machine psutil and ``/proc/stat`` are read when the window opens and closes;
    on a lab host, :func:`snapshot_command` run there at both moments (through the case's
    shell on that host, so each costs no login).
    """

    def __init__(self, server: Host, server_pid: int, started: int | None = None, placement: Placement | None = None):
        self.server, self.pid, self.started = server, server_pid, started
        self.placement = placement or Placement(harness_here=server.is_local)
        self.began = self.ended = time.monotonic()
        self.first: Reading | None = None
        self.last: Reading | None = None
        self.harness_began = self.harness_ended = 0.0

    @property
    def remote(self) -> bool:
        return not self.server.is_local

    def open(self) -> None:
        """The run begins now (on a lab host, the first reading comes to :meth:`opened`)."""
        self.began = time.monotonic()
        self.harness_began = harness_cpu_s()
        if not self.remote:
            self.first = local_reading(self.pid, self.started)

    def opened(self, snapshot: str) -> None:
        """What the snapshot command printed as the run began, on a lab host."""
        self.first = _parsed(snapshot)

    def close(self, snapshot: str | None = None) -> None:
        """The run has ended; ``snapshot`` is what the snapshot command printed now, on a lab host."""
        self.last = _parsed(snapshot) if self.remote else local_reading(self.pid, self.started)
        self.harness_ended = harness_cpu_s()
        self.ended = time.monotonic()

    def sample(self, seconds: float | None, loadgen_cpu_s: list[float | None]) -> dict:
        """The run's sample (:func:`run_sample`)."""
        return run_sample(self.first, self.last, self.placement, seconds=seconds,
                          wall=max(self.ended - self.began, 1e-6), harness_cpu_s=self.harness_ended - self.harness_began,
                          loadgen_cpu_s=loadgen_cpu_s)


def _parsed(snapshot: str | None) -> Reading | None:
    try:
        return parse_snapshot(snapshot or "")
    except (ValueError, IndexError):
        return None
