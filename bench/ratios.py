"""Twisted's throughput as a share of Nginx's: the lab's headline, computed one way everywhere.

Cells measured in one group took turns, round by round, so a round's two samples were
taken seconds apart and share the machine's drift: the ratio is taken per round, and
the headline is the median of those ratios with its bootstrap interval. Cells measured
apart (the sequential order, or runs from before rounds) give the ratio of their
medians, with an interval from resampling each side on its own.

The same ratio per server core divides each side's req/s by the CPU cores its server
used in that run: like for like when the load generator takes its CPU from the server.
"""
from __future__ import annotations

import random
import statistics

from bench.records import CellRecord, LoadResult
from bench.stats import Interval, median_interval, percentiles

RESAMPLES = 2000


def _rate(run: LoadResult, per_core: bool) -> float | None:
    if not per_core:
        return run.req_per_s
    cores = run.server_cores
    return run.req_per_s / cores if cores else None


def paired(twisted: CellRecord, nginx: CellRecord) -> bool:
    return twisted.group is not None and twisted.group == nginx.group


def round_ratios(twisted: CellRecord, nginx: CellRecord, per_core: bool = False) -> list[float]:
    """Twisted's req/s over Nginx's, one per round in which both runs were clean numbers."""
    theirs = {run.round: run for run in nginx.numbers if run.round is not None}
    ratios = []
    for run in twisted.numbers:
        other = theirs.get(run.round)
        mine, base = (_rate(run, per_core), _rate(other, per_core)) if other else (None, None)
        if mine is not None and base:
            ratios.append(mine / base)
    return ratios


def ratio(twisted: CellRecord, nginx: CellRecord, per_core: bool = False) -> Interval | None:
    """The headline ratio with its 95 % interval; None when either side has no clean number."""
    seed = f"{twisted.id}/{nginx.id}/{'core' if per_core else 'req'}"
    if paired(twisted, nginx):
        return median_interval(round_ratios(twisted, nginx, per_core), seed=seed, resamples=RESAMPLES)
    mine = [r for r in (_rate(run, per_core) for run in twisted.numbers) if r is not None]
    base = [r for r in (_rate(run, per_core) for run in nginx.numbers) if r]
    if not mine or not base:
        return None
    rng = random.Random(seed)
    low, high = percentiles([statistics.median(rng.choices(mine, k=len(mine)))
                             / statistics.median(rng.choices(base, k=len(base))) for _ in range(RESAMPLES)])
    return Interval(n=min(len(mine), len(base)), median=statistics.median(mine) / statistics.median(base),
                    low=low, high=high)
