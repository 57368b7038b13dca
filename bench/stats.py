"""Summaries of repeated measurements."""
from __future__ import annotations

import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class Summary:
    n: int
    median: float
    low: float
    high: float
    cv: float  # coefficient of variation: stdev / mean (0 for a single value)


def summarize(values) -> Summary | None:
    values = [float(v) for v in values]
    if not values:
        return None
    mean = statistics.fmean(values)
    cv = statistics.stdev(values) / mean if len(values) > 1 and mean else 0.0
    return Summary(n=len(values), median=statistics.median(values), low=min(values), high=max(values), cv=cv)
