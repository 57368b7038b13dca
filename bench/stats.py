"""Summaries of repeated measurements, and intervals for ratios of them (pure).

A ratio of throughputs is estimated on the log scale: the mean of log values and its
variance, a t interval there, and the interval's ends taken back by exp. Paired rounds
give one log ratio per round (a one-sample t interval on them: the geometric mean ratio);
two samples taken apart give the difference of their log means (Welch's interval, its
degrees of freedom by Welch–Satterthwaite). Per-round noise on a machine whose speed
drifts is close to lognormal, so the t interval holds at small n; ``inv coverage``
checks it, stopping rule included, by simulation.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from functools import lru_cache

from scipy import stats as scipy_stats


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
class LogMean:
    """An estimate on the log scale: its value, the variance of that value and its degrees of freedom.

    ``var`` is None when there is no spread to estimate it from (a single value on a side).
    ``parts`` is the sum of var_i² / df_i over the independent samples it is made of, which
    gives Welch–Satterthwaite's degrees of freedom for a sum or difference of them.
    """

    value: float
    var: float | None
    parts: float | None
    n: int

    @property
    def df(self) -> float | None:
        if self.var is None:
            return None
        return self.var ** 2 / self.parts if self.parts else math.inf


def log_mean(values) -> LogMean | None:
    """The mean of the logs of positive ``values``, with the variance of that mean; None for no value."""
    logs = [math.log(v) for v in values]
    if not logs:
        return None
    n = len(logs)
    if n < 2:
        return LogMean(value=logs[0], var=None, parts=None, n=1)
    mean = math.fsum(logs) / n
    var = math.fsum((x - mean) ** 2 for x in logs) / (n - 1) / n
    return LogMean(value=mean, var=var, parts=var ** 2 / (n - 1), n=n)


def difference(a: LogMean, b: LogMean) -> LogMean:
    """a − b for independent estimates (log a/b): variances add, Welch–Satterthwaite for the degrees of freedom."""
    if a.var is None or b.var is None:
        return LogMean(value=a.value - b.value, var=None, parts=None, n=min(a.n, b.n))
    return LogMean(value=a.value - b.value, var=a.var + b.var, parts=a.parts + b.parts, n=min(a.n, b.n))


@dataclass(frozen=True)
class Interval:
    """An estimate with its confidence interval; ``low`` and ``high`` are None where there is none (n = 1)."""

    n: int
    centre: float
    low: float | None
    high: float | None
    confidence: float

    @property
    def half_width(self) -> float:
        """The interval's larger side as a share of its centre (0.05: ±5 %); infinite where there is no interval."""
        if self.low is None or self.high is None or not self.centre:
            return math.inf
        return max(self.high - self.centre, self.centre - self.low) / self.centre


def interval(estimate: LogMean, confidence: float) -> Interval:
    """The t interval of a log-scale estimate, taken back to the ratio scale."""
    centre = math.exp(estimate.value)
    if estimate.var is None:
        return Interval(n=estimate.n, centre=centre, low=None, high=None, confidence=confidence)
    reach = t_quantile(confidence, estimate.df) * math.sqrt(estimate.var)
    return Interval(n=estimate.n, centre=centre, low=math.exp(estimate.value - reach),
                    high=math.exp(estimate.value + reach), confidence=confidence)


@lru_cache(maxsize=4096)
def t_quantile(confidence: float, df: float) -> float:
    """The two-sided ``confidence`` quantile of Student's t with ``df`` degrees of freedom."""
    return float(scipy_stats.t.ppf((1 + confidence) / 2, df))


def rounds_needed(estimate: LogMean, target: float, confidence: float, most: int = 1000) -> int | None:
    """How many values of the same spread would bring the interval within ±``target``; None past ``most``."""
    if estimate.var is None:
        return None
    spread = math.sqrt(estimate.var * estimate.n)  # one value's standard deviation on the log scale
    reach = math.log(1 + target)
    return next((n for n in range(2, most + 1) if t_quantile(confidence, n - 1) * spread / math.sqrt(n) <= reach),
                None)


def drift(values: list[float]) -> tuple[float, float] | None:
    """The medians of a series' first third and last third; None for fewer than three values."""
    third = len(values) // 3
    if third < 1:
        return None
    return statistics.median(values[:third]), statistics.median(values[-third:])
