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
# CPUs this busy (steal included) were full.
MACHINE_BUSY = 0.90

# The verdicts about the limit, as the report reads them from CellRecord.verdicts.
CLIENT_BOUND = "client-bound"  # the load generator was saturated: req/s is a lower bound
BOTH_SATURATED = "both saturated"  # ... and the server was busy too: nobody can say which side limited
MACHINE_BOUND = "machine-bound"  # CPUs full, so a side got less than it could use: others or steal took the rest
WORKER_BOUND = "a worker saturated"  # one server process busy (80 % of a core) while the server as a whole had room
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
class Room:
    """The CPUs each side could run on: the server's (its partition's with ``--server-cpus``, else its
    machine's) and, with a partition on a machine the load generator shares, the load generator's."""

    server_cpus: int
    load_cpus: int = 0
    partitioned: bool = False


def server_side(sample: dict, room: Room) -> tuple[int, float] | None:
    """(CPUs, busy + steal cores) of the CPUs the server could run on, when the sample has them."""
    if room.partitioned:
        return (room.server_cpus, sample["server_cpus_busy_cores"]) if "server_cpus_busy_cores" in sample else None
    return (sample["host_cpus"], sample["host_busy_cores"] + sample["steal_cores"]) if "host_cpus" in sample else None


def server_capacity(sample: dict, workers: int, room: Room) -> float:
    """Cores the server could have used in a round: its workers, on its CPUs, and no more than it
    used plus what its CPUs had left idle."""
    cores = float(min(workers, room.server_cpus))
    side = server_side(sample, room)
    if side is None:
        return cores
    cpus, busy = side
    return min(cores, sample["server_cores"] + max(cpus - busy, 0.0))


def full(cpus: int, busy: float) -> bool:
    """CPUs busy (steal included) nearly all the time."""
    return busy >= MACHINE_BUSY * cpus


def held_back_by_machine(sample: dict, *, threads: int, workers: int, room: Room) -> bool:
    """The server's CPUs were full while the server got less than its workers could use (the load
    generator, other processes or steal took the rest); with a partition, also the load generator's
    CPUs full while it got less than its threads could use."""
    side = server_side(sample, room)
    server = side is not None and full(*side) and sample["server_cores"] < SERVER_ROOM * min(workers, room.server_cpus)
    load = (room.load_cpus > 0 and "load_cpus_busy_cores" in sample and full(room.load_cpus, sample["load_cpus_busy_cores"])
            and sample["loadgen_cores"] < CLIENT_BUSY * min(threads, room.load_cpus))
    return server or load


@dataclass(frozen=True)
class Limits:
    """Who was at the limit in one round."""

    client: bool  # the load generator (some load host, of several) was saturated
    server: bool  # the server used most of what it could
    machine: bool  # a side got less than it could use because its CPUs were full
    worker: bool = False  # one of several server processes was busy while the server as a whole had room


def round_limits(run: LoadResult, *, threads: int, workers: int, room: Room) -> Limits:
    """Judge one measured run from its sample (and, with several load hosts, its parts')."""
    sample = run.sample
    if run.parts:
        client = any((part.sample or {}).get("saturated") for part in run.parts)
    else:
        client = saturated(sample["loadgen_cores"], threads)
    server = sample["server_cores"] >= SERVER_ROOM * server_capacity(sample, workers, room)
    # A process serves on one thread: at SERVER_ROOM of a core it is as busy as the server-busy rule asks of a server.
    worker = workers > 1 and not server and sample.get("busiest_process_cores", 0.0) >= SERVER_ROOM
    return Limits(client=client, server=server, worker=worker,
                  machine=held_back_by_machine(sample, threads=threads, workers=workers, room=room))


def limits(record: CellRecord, room: Room) -> list[str]:
    """The cell's limit verdicts, from the rounds that are numbers and were sampled: client-bound
    in most rounds, both saturated when the server was busy in most of those, a worker saturated
    (one process at 80 % of a core while the server as a whole had room) and machine-bound in most rounds."""
    judged = [round_limits(run, threads=record.cell.threads, workers=record.cell.workers, room=room)
              for run in record.numbers if {"server_cores", "loadgen_cores"} <= set(run.sample or {})]
    found = []
    if mostly(limit.client for limit in judged):
        found.append(CLIENT_BOUND)
        if mostly(limit.server for limit in judged if limit.client):
            found.append(BOTH_SATURATED)
    if mostly(limit.worker for limit in judged):
        found.append(WORKER_BOUND)
    if mostly(limit.machine for limit in judged):
        found.append(MACHINE_BOUND)
    return found


def judged(record: CellRecord, room: Room, cv_threshold: float) -> list[str]:
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
