"""The knee of a server's fixed-rate sweep (``inv bench --latency``): the highest offered rate it sustained (pure).

A sweep step is a :class:`~bench.records.LoadResult` with the rate it offered (``offered_per_s``). A step
*sustained* its rate when every request was answered 2xx (no socket error, no other status), it achieved at
least ``achieved`` of the rate its load generator's schedule sent over the run (``scheduled_per_s``, else the
offered rate), and its corrected p99 stayed below the bound: ``p99_ms`` when set,
else ``p99_factor`` times the server's own p99 at its lowest usable rate.

A step whose load generator used up its cores (``sample["saturated"]``) still counts when its server sustained
the rate: a load generator that falls behind sends late and sends less, which wrk2 counts against the server
(latency from each request's intended start, a lower achieved rate), so it can only make a server look worse.
A saturated step its server did *not* sustain says nothing about the server: it is not used, and a knee below
it is only a lower bound. Nor does a saturated step set the p99 bound (its p99 may be the load generator's).
The measuring side and the report both read steps through here.
"""
from __future__ import annotations

from dataclasses import dataclass

from bench.records import LoadResult

SUSTAINED = "sustained"
SATURATED = "load generator saturated"


@dataclass(frozen=True)
class Rule:
    """When a step counts as sustained (bench.latency.knee)."""

    achieved: float = 0.95  # achieved req/s at least this share of the offered rate
    p99_factor: float = 10.0  # ... and p99 below this many times the server's p99 at its lowest usable rate ...
    p99_ms: float | None = None  # ... or below this many milliseconds, when set

    @classmethod
    def of(cls, settings: dict | None) -> Rule:
        """The rule of a run's settings (env.json's latency.knee); the defaults for what it does not say."""
        return cls(**{key: value for key, value in (settings or {}).items() if key in ("achieved", "p99_factor", "p99_ms")})


@dataclass(frozen=True)
class Knee:
    """A server's knee: the highest offered rate it sustained, or None and why."""

    rate: float | None
    bound_us: float | None  # the p99 bound its steps were held to
    lower_bound: bool = False  # a higher rate's step was not used (load generator saturated): it may be higher
    why_not: str = ""
    missed: tuple[float, ...] = ()  # lower rates it did not sustain (a stall, not its capacity: said beside the knee)


def saturated(step: LoadResult) -> bool:
    return bool((step.sample or {}).get("saturated"))


def has_figures(step: LoadResult) -> bool:
    """A step with figures to show: clean, with a corrected p99."""
    return step.clean and "p99" in step.latency_us


def usable(step: LoadResult) -> bool:
    """A step whose p99 speaks for its server alone: with figures, its load generator not saturated."""
    return has_figures(step) and not saturated(step)


def bound_us(steps: list[LoadResult], rule: Rule) -> float | None:
    """The p99 bound of a server's steps: ``p99_ms``, or ``p99_factor`` times its p99 at its lowest usable rate."""
    if rule.p99_ms is not None:
        return rule.p99_ms * 1000
    lowest = min((step for step in steps if usable(step)), key=lambda step: step.offered_per_s, default=None)
    return None if lowest is None else rule.p99_factor * lowest.latency_us["p99"]


def verdict(step: LoadResult, bound: float | None, rule: Rule) -> str:
    """What a step says about its server: SUSTAINED, or why not, in a few words; SATURATED when its load
    generator saturated and the server did not sustain the rate (the step then says nothing about the server)."""
    why = _shortfall(step, bound, rule)
    return SATURATED if why != SUSTAINED and saturated(step) else why


def _shortfall(step: LoadResult, bound: float | None, rule: Rule) -> str:
    if not step.clean:
        return "errors" if step.errored else "non-2xx answers" if step.non_2xx or step.failed else "nothing answered"
    if "p99" not in step.latency_us:
        return "no percentiles"
    due = step.scheduled_per_s or step.offered_per_s  # what the load generator's schedule sent over its run
    achieved = step.req_per_s / due if due else 0.0
    if achieved < rule.achieved:
        return f"fell behind ({achieved:.0%} of the rate)"
    if bound is not None and step.latency_us["p99"] >= bound:
        return "p99 over the bound"
    return SUSTAINED


def knee(steps: list[LoadResult], rule: Rule) -> Knee:
    """The highest offered rate of ``steps`` (one server's sweep) that it sustained."""
    bound = bound_us(steps, rule)
    if bound is None:
        return Knee(None, None, why_not="no usable step" if steps else "not swept")
    said = [(step.offered_per_s, verdict(step, bound, rule)) for step in steps]
    held = [offered for offered, words in said if words == SUSTAINED]
    if not held:
        return Knee(None, bound, why_not="sustained no rate")
    rate = max(held)
    missed = tuple(sorted(offered for offered, words in said if offered < rate and words not in (SUSTAINED, SATURATED)))
    return Knee(rate, bound, lower_bound=any(words == SATURATED and offered > rate for offered, words in said),
                missed=missed)
