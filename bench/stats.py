"""Summaries of repeated measurements."""
from __future__ import annotations

import math
import random
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


@dataclass(frozen=True)
class Interval:
    """A median with its bootstrap confidence interval."""

    n: int
    median: float
    low: float
    high: float

    @property
    def half_width(self) -> float:
        """Half the interval's width as a share of the median (0.05: ±5 %)."""
        return (self.high - self.low) / 2 / self.median if self.median else math.inf


def median_interval(values, seed: str, confidence: float = 0.95, resamples: int = 2000) -> Interval | None:
    """The median and a percentile-bootstrap interval; seeded, so the same values give the same interval."""
    values = [float(v) for v in values]
    if not values:
        return None
    rng = random.Random(seed)
    low, high = percentiles([statistics.median(rng.choices(values, k=len(values))) for _ in range(resamples)],
                            confidence)
    return Interval(n=len(values), median=statistics.median(values), low=low, high=high)


def percentiles(resampled: list[float], confidence: float = 0.95) -> tuple[float, float]:
    """The central ``confidence`` share of bootstrap resamples: the interval's two ends."""
    ordered = sorted(resampled)
    tail = (1 - confidence) / 2
    return ordered[int(tail * (len(ordered) - 1))], ordered[int(math.ceil((1 - tail) * (len(ordered) - 1)))]


def drift(values: list[float]) -> tuple[float, float] | None:
    """The medians of a series' first third and last third; None for fewer than three values."""
    third = len(values) // 3
    if third < 1:
        return None
    return statistics.median(values[:third]), statistics.median(values[-third:])
