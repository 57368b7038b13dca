"""One load: every load host's generator started at the same moment, the server watched meanwhile.

The load is split evenly among the load hosts (:func:`split`); each host's run is
parsed by its tool, and with several hosts they are combined into one run whose
``parts`` keep each host's own (:func:`combined`).
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, replace

from bench.errors import BenchError
from bench.hosts import Host
from bench.records import Load, LoadResult

from . import verdicts
from .cpus import format_cpus
from .loadgens import LoadGenerator
from .sampling import Window, snapshot_command
from .together import Sessions


@dataclass(frozen=True)
class Loader:
    """A load host and the load generator found there."""

    host: Host
    generator: LoadGenerator
    binary: str


def split(load: Load, hosts: int) -> list[Load]:
    """``load`` shared evenly by ``hosts`` load hosts: its connections and requests divided (the first
    hosts take one more of a remainder, and the expected rate goes with the connections); each host
    runs the load's threads, at most one per connection."""
    if hosts == 1:
        return [load]
    if load.concurrency < hosts:
        raise BenchError(f"{load.concurrency} connections cannot be shared by {hosts} load hosts: "
                         f"give --concurrency {hosts} or more")

    def share(total: int, index: int) -> int:
        return total // hosts + (index < total % hosts)

    return [replace(load, concurrency=share(load.concurrency, index),
                    threads=min(load.threads, share(load.concurrency, index)),
                    requests=None if load.requests is None else share(load.requests, index),
                    rate=None if load.rate is None else load.rate * share(load.concurrency, index) / load.concurrency)
            for index in range(hosts)]


def command_line(generator: LoadGenerator, load: Load, binary: str, cpus: tuple[int, ...] = ()) -> str:
    """The shell command for one load; with ``cpus``, behind ``taskset -c`` so the tool runs only there."""
    argv = generator.command(load, binary)
    if cpus:
        argv = ["taskset", "-c", format_cpus(cpus), *argv]
    return shlex.join(argv)


def sessions_for(loaders: list[Loader], server: Host | None = None) -> Sessions:
    """A shell on each load host, and one on the server host when it is a lab host (for its CPU)."""
    return Sessions([loader.host for loader in loaders] + ([server] if server is not None and not server.is_local else []))


def run(host: Host, generator: LoadGenerator, binary: str, load: Load, timeout: float | None,
        cpus: tuple[int, ...] = ()) -> LoadResult:
    """One load from one host, parsed; the whole output is kept in ``raw``."""
    loaders = [Loader(host, generator, binary)]
    with sessions_for(loaders) as sessions:
        return run_round(sessions, loaders, load, timeout=timeout or 3600, cpus=cpus)


def run_round(sessions: Sessions, loaders: list[Loader], load: Load, *, timeout: float,
              cpus: tuple[int, ...] = (), window: Window | None = None) -> LoadResult:
    """``load``, split among ``loaders``, started on all of them at once through ``sessions``
    (:func:`sessions_for`); ``window`` watches the server.

    A non-zero exit is still parsed (weighttp and wrk exit non-zero on some failures that
    are results); output that says nothing measurable raises BenchError, a lost host
    HostLost, and either stops the generators on every host first. With ``cpus`` each
    tool is pinned there by ``taskset``, and its ``command`` shows it. A measured run's sample
    says ``exhausted`` when a tool ran out of the request count it sized before its time
    (weighttp 0.5: :meth:`LoadGenerator.ran_out`). A tool that reports its own CPU (h2load's command
    line, which also summarizes its log) is charged that, not the whole line's.
    """
    loads = split(load, len(loaders))
    commands = [command_line(loader.generator, share, loader.binary, cpus) for loader, share in zip(loaders, loads)]
    lines = list(enumerate(commands))
    snapshot = window is not None and window.remote and snapshot_command(window.pid)
    if snapshot:  # the server's first reading, taken as the loads start
        lines.append((len(loaders), snapshot))
    if window is not None:
        window.open()
    outcomes = sessions.run(lines, timeout)
    if snapshot:
        window.opened(outcomes[-1][1])
        (_, last, _), = sessions.run([(len(loaders), snapshot)], 30)
        window.close(last)
    elif window is not None:
        window.close()
    parts = []
    for loader, share, command, (status, output, cpu) in zip(loaders, loads, commands, outcomes):
        if cpus:
            _check_taskset(loader.host, cpus, status, output)
        part = loader.generator.parse(output, command)
        part.cpu_s = cpu if part.cpu_s is None else part.cpu_s
        part.host = str(loader.host)
        parts.append((part, share))
    if len(parts) == 1:
        (result, _), = parts
        result.host = None
    else:
        for part, share in parts:
            part.sample = {"concurrency": share.concurrency, "threads": share.threads}
        result = combined([part for part, _ in parts])
    if window is not None:
        result.sample = window.sample(result.seconds, [part.cpu_s for part, _ in parts])
        for part, share in parts:
            if part is not result and part.cpu_s is not None:  # each host's cores over its own tool's seconds
                cores = part.cpu_s / (part.seconds or result.sample["wall_s"])
                part.sample.update(loadgen_cores=round(cores, 3), saturated=verdicts.saturated(cores, share.threads))
        if any(loader.generator.ran_out(share, part) for loader, (part, share) in zip(loaders, parts)):
            result.sample["exhausted"] = True
    return result


def _check_taskset(host: Host, cpus: tuple[int, ...], exited: int, stderr: str) -> None:
    """A BenchError when taskset itself failed (missing, or the CPUs refused), not the tool it runs."""
    if exited == 127 and re.search(r"taskset: (command )?not found", stderr):
        raise BenchError(f"taskset is not installed on {host}: apt-get install util-linux there, or run without --load-cpus")
    # "failed to execute" is the tool missing, which the parser reports with the tool's name.
    said = [line for line in stderr.splitlines() if line.startswith("taskset: failed to set")]
    if said:
        raise BenchError(f"taskset could not pin the load generator to CPUs {format_cpus(cpus)} on {host} "
                         f"({said[-1][len('taskset: '):]}): pick --load-cpus among its online CPUs")


def combined(parts: list[LoadResult]) -> LoadResult:
    """One round's runs from several load hosts, started together, as one run.

    Counts, req/s, bytes and CPU are summed. Latency stays with each part: percentiles
    of different hosts never average into the whole's.
    """
    def total(name: str):
        values = [getattr(part, name) for part in parts]
        return None if any(value is None for value in values) else sum(values)

    status: dict[str, int] = {}
    for part in parts:
        for code, count in part.status.items():
            status[code] = status.get(code, 0) + count
    return LoadResult(tool=parts[0].tool, command="; ".join(f"{part.host}: {part.command}" for part in parts),
                      seconds=max(part.seconds for part in parts), req_per_s=total("req_per_s"),
                      kbyte_per_s=total("kbyte_per_s"), requests_started=total("requests_started"),
                      requests_done=total("requests_done"), succeeded=total("succeeded"), failed=total("failed"),
                      errored=total("errored"), status=status, bytes_total=total("bytes_total"),
                      cpu_s=total("cpu_s"), warmup=parts[0].warmup, round=parts[0].round, parts=list(parts))
