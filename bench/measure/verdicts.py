"""Judgements about measurements: is the warm-up over, is a cell noisy, who was the limit.

Pure functions over numbers and records, so each rule is tested on constructed data.
A round's sample (see :mod:`bench.measure.sampling`) holds the cores each side used and,
on the server's machine, the busy and steal cores of the CPUs in play.
"""
from __future__ import annotations

from dataclasses import dataclass

from bench.records import CellRecord, LoadResult
from bench.stats import summarize

# A load generator using this share of its threads' cores is saturated...
CLIENT_BUSY = 0.90
# ... and a server using this share of the cores it could use was busy too.
SERVER_ROOM = 0.80
# The server machine's CPUs in play this busy (steal included): the machine was full.
MACHINE_BUSY = 0.90

# The verdicts about the limit, as the report reads them from CellRecord.verdicts.
CLIENT_BOUND = "client-bound"  # the load generator was saturated: req/s is a lower bound
BOTH_SATURATED = "both saturated"  # ... and the server was busy too: nobody can say which side limited
MACHINE_BOUND = "machine-bound"  # the machine's CPUs were full, and the server got less than its workers could use
EXHAUSTED = "-n exhausted"  # weighttp ran out of its requests before its time: some runs were shorter


def warmed_up(rates: list[float], tolerance: float) -> bool:
    """Warm-up is over once a round no longer beats the previous one by more than ``tolerance``."""
    return len(rates) >= 2 and rates[-1] <= rates[-2] * (1 + tolerance)


def noisy(rates: list[float], threshold: float) -> bool:
    """More spread than ``threshold`` (coefficient of variation) across the repeats."""
    summary = summarize(rates)
    return bool(summary and summary.n >= 2 and summary.cv > threshold)


def saturated(loadgen_cores: float, threads: int) -> bool:
    """A load generator used up the cores of its threads."""
    return loadgen_cores >= CLIENT_BUSY * threads


@dataclass(frozen=True)
class ServerRoom:
    """Where the server ran: the CPUs it could use (its partition's with ``--server-cpus``,
    else its machine's), and whether they were its alone (partitioned)."""

    cpus: int
    partitioned: bool


def server_capacity(sample: dict, workers: int, room: ServerRoom) -> float:
    """Cores the server could have used in a round: its workers, on its CPUs; on an unpartitioned
    machine also no more than it used plus what was left idle."""
    cores = float(min(workers, room.cpus))
    if room.partitioned or "host_cpus" not in sample:
        return cores
    idle = sample["host_cpus"] - sample["host_busy_cores"] - sample["steal_cores"]
    return min(cores, sample["server_cores"] + max(idle, 0.0))


def machine_full(sample: dict) -> bool:
    """The server machine's CPUs in play were busy (steal included) nearly all the time."""
    return sample["host_busy_cores"] + sample["steal_cores"] >= MACHINE_BUSY * sample["host_cpus"]


@dataclass(frozen=True)
class Limits:
    """Who was at the limit in one round."""

    client: bool  # the load generator (some load host, of several) was saturated
    server: bool  # the server used most of what it could
    machine: bool  # the machine was full while the server got less than its workers could use


def round_limits(run: LoadResult, *, threads: int, workers: int, room: ServerRoom) -> Limits:
    """Judge one measured run from its sample (and, with several load hosts, its parts')."""
    sample = run.sample
    if run.parts:
        client = any((part.sample or {}).get("saturated") for part in run.parts)
    else:
        client = saturated(sample["loadgen_cores"], threads)
    server = sample["server_cores"] >= SERVER_ROOM * server_capacity(sample, workers, room)
    machine = ("host_cpus" in sample and machine_full(sample)
               and sample["server_cores"] < SERVER_ROOM * min(workers, room.cpus))
    return Limits(client=client, server=server, machine=machine)


def limits(record: CellRecord, room: ServerRoom) -> list[str]:
    """The cell's limit verdicts, from the rounds that are numbers and were sampled: client-bound
    in most rounds, both saturated when the server was busy in most of those, machine-bound in
    most rounds."""
    judged = [round_limits(run, threads=record.cell.threads, workers=record.cell.workers, room=room)
              for run in record.numbers if {"server_cores", "loadgen_cores"} <= set(run.sample or {})]
    found = []
    if mostly(limit.client for limit in judged):
        found.append(CLIENT_BOUND)
        if mostly(limit.server for limit in judged if limit.client):
            found.append(BOTH_SATURATED)
    if mostly(limit.machine for limit in judged):
        found.append(MACHINE_BOUND)
    return found


def judged(record: CellRecord, room: ServerRoom, cv_threshold: float) -> list[str]:
    """Every verdict on a measured cell: those it has (warm-up unstable), noisy, the limits, -n exhausted."""
    found = list(record.verdicts)
    if noisy([run.req_per_s for run in record.numbers], cv_threshold):
        found.append("noisy")
    found += limits(record, room)
    if any((run.sample or {}).get("exhausted") for run in record.measured):
        found.append(EXHAUSTED)
    return found


def mostly(judgements) -> bool:
    """More than half of the runs' judgements are true."""
    judgements = list(judgements)
    return sum(judgements) * 2 > len(judgements)


def spread(counts: dict) -> dict | None:
    """How evenly requests fell on the workers: min/max share and the max/mean imbalance."""
    values = [int(v) for v in counts.values()]
    total = sum(values)
    if len(values) < 2 or not total:
        return None
    mean = total / len(values)
    return {"min_share": min(values) / total, "max_share": max(values) / total, "imbalance": max(values) / mean}
