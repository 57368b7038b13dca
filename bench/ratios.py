"""A cell's throughput as a share of its baseline's (Twisted's of Nginx's): the lab's headline, computed one way
everywhere.

Cells measured in one group took turns, round by round, so a round's two samples were
taken seconds apart and share the machine's drift: the ratio is taken per round, and
the headline is their geometric mean with a t interval on the log ratios. Cells measured
apart (the sequential order, or runs from before rounds) give the ratio of the two
sides' geometric means, with Welch's interval on the difference of their log means.

The interval is at 95 %, unless the case's rounds ended on its target: the stopping rule
then checked a stricter interval (see ``bench.measure.stopping``), and that is the one
shown, as stopping at the first narrow interval would claim more confidence than it has.

The same ratio per server core divides each side's req/s by the CPU cores its server
used in that run.
"""
from __future__ import annotations

from bench.records import TARGET, CellRecord, LoadResult
from bench.stats import Interval, LogMean, difference, interval, log_mean

CONFIDENCE = 0.95


def _rate(run: LoadResult, per_core: bool) -> float | None:
    if not per_core:
        return run.req_per_s
    cores = run.server_cores
    return run.req_per_s / cores if cores else None


def paired(mine: CellRecord, base: CellRecord) -> bool:
    return mine.group is not None and mine.group == base.group


def round_ratios(mine: CellRecord, base: CellRecord, per_core: bool = False) -> list[float]:
    """A cell's req/s over its baseline's, one per round in which both runs were clean numbers."""
    theirs = {run.round: run for run in base.numbers if run.round is not None}
    ratios = []
    for run in mine.numbers:
        other = theirs.get(run.round)
        mine, base = (_rate(run, per_core), _rate(other, per_core)) if other else (None, None)
        if mine and base:
            ratios.append(mine / base)
    return ratios


def estimate(mine: CellRecord, base: CellRecord, per_core: bool = False) -> LogMean | None:
    """The log of the headline ratio with its variance; None when either side has no clean number."""
    if paired(mine, base):
        return log_mean(round_ratios(mine, base, per_core))
    ours = log_mean(r for r in (_rate(run, per_core) for run in mine.numbers) if r)
    theirs = log_mean(r for r in (_rate(run, per_core) for run in base.numbers) if r)
    if ours is None or theirs is None:
        return None
    return difference(ours, theirs)


def shown_confidence(*records: CellRecord) -> float:
    """The confidence of the interval shown for these records: 95 %, or the stricter one their stopping rule
    met when their rounds ended on its target."""
    stopped = [r.stopping.get("confidence", CONFIDENCE) for r in records
               if r.stopping and r.stopping.get("ended") == TARGET]
    return max([CONFIDENCE, *stopped])


def ratio(mine: CellRecord, base: CellRecord, per_core: bool = False,
          confidence: float | None = None) -> Interval | None:
    """The headline ratio with its interval (at ``confidence``, by default the one shown for these records);
    None when either side has no clean number."""
    found = estimate(mine, base, per_core)
    if found is None:
        return None
    return interval(found, confidence or shown_confidence(mine, base))
