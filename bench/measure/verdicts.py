"""Judgements about measurements: is the warm-up over, is a cell noisy, who was the limit.

Pure functions over numbers, so each rule is tested on constructed data.
"""
from __future__ import annotations

from bench.stats import summarize

# A load generator using this share of its threads' cores is saturated...
CLIENT_BUSY = 0.90
# ... and a server below this share of the cores it could use had room to spare.
SERVER_ROOM = 0.80
# Server and load generator on one host using this share of its cores: the machine was the limit.
MACHINE_BUSY = 0.90


def warmed_up(rates: list[float], tolerance: float) -> bool:
    """Warm-up is over once a round no longer beats the previous one by more than ``tolerance``."""
    return len(rates) >= 2 and rates[-1] <= rates[-2] * (1 + tolerance)


def noisy(rates: list[float], threshold: float) -> bool:
    """More spread than ``threshold`` (coefficient of variation) across the repeats."""
    summary = summarize(rates)
    return bool(summary and summary.n >= 2 and summary.cv > threshold)


def server_capacity(workers: int, server_cpus: int, loadgen_cores: float, same_host: bool) -> float:
    """Cores the server could have used: its workers, bounded by what the load generator left."""
    cores = server_cpus - (loadgen_cores if same_host else 0.0)
    return max(min(float(workers), cores), 0.0)


def saturated(loadgen_cores: float, threads: int) -> bool:
    """A load generator used up the cores of its threads."""
    return loadgen_cores >= CLIENT_BUSY * threads


def client_bound(*, loadgen_cores: float, threads: int, server_cores: float, workers: int,
                 server_cpus: int, same_host: bool, load_saturated: bool | None = None) -> bool:
    """The load generator used up its cores while the server still had room.

    ``load_saturated``, when given, says whether some load host (of several) was saturated.
    """
    busy = saturated(loadgen_cores, threads) if load_saturated is None else load_saturated
    capacity = server_capacity(workers, server_cpus, loadgen_cores, same_host)
    return busy and server_cores < SERVER_ROOM * capacity


def machine_bound(*, server_cores: float, loadgen_cores: float, cpus: int) -> bool:
    """Server and load generator on one host used (nearly) all of its cores between them.

    Then neither side's req/s is its own limit: each took CPU from the other, and a ratio
    between two servers also compares how much CPU the load generator left each of them.
    """
    return server_cores + loadgen_cores >= MACHINE_BUSY * cpus


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
