"""A case's fixed-rate sweep (``inv bench --latency``), planned from the case's measured maxima (pure).

After a case's throughput rounds its servers are still up, warm, and their maxima known. The sweep
loads them again at a grid of offered rates, each a share of the baseline's median req/s (Nginx's;
in a case without it, the fastest server's), so every server sees the same rates and the slower
one is pushed past its limit. At each rate the servers take turns, in an order that turns by one
from rate to rate, as the rounds' order does, so the machine's drift falls on each in turn. Each
step runs wrk2 for ``step`` seconds; wrk2 keeps latency only after each thread's calibration
(10 s + 5 ms per connection of the thread), so a step lasts that plus at least two recorded seconds.

The grid brackets where the slowest server falls over between two of its rates; ``refine`` rates more
halve that bracket each (the midpoint of the slowest server's knee and the next rate up), every server
loaded at each, so the servers' p99s at the slowest knee stay side by side.
"""
from __future__ import annotations

from dataclasses import dataclass

from bench.errors import BenchError
from bench.knee import Rule, knee
from bench.records import LoadResult

from .loadgens.wrk2 import shortest_run_s

# What starting wrk2, reading its output and the CPU around it add to each step, here.
STEP_OVERHEAD_S = 0.5


@dataclass(frozen=True)
class Plan:
    """How a case is swept (bench.latency)."""

    grid: tuple[float, ...]  # offered rates, as shares of the baseline's median req/s
    step: int  # seconds each step's wrk2 runs
    connections: int  # wrk2's connections; one request in flight on each, so enough for the top rate's latency
    threads: int
    refine: int = 0  # rates added between the slowest server's knee and the next rate up, one after another
    rule: Rule = Rule()  # when a step is sustained (bench.latency.knee)

    @classmethod
    def of(cls, settings: dict) -> Plan:
        """The plan of bench.latency, checked: a step too short to outlast wrk2's calibration is refused."""
        plan = cls(grid=tuple(sorted(set(settings["grid"]))), step=settings["step"],
                   connections=settings["connections"], threads=settings["threads"],
                   refine=settings.get("refine", 0), rule=Rule.of(settings.get("knee")))
        if not plan.grid or min(plan.grid) <= 0:
            raise BenchError(f"bench.latency.grid is {list(settings['grid'])}: give shares of the baseline's req/s "
                             f"above 0, e.g. [0.1, 0.5, 1.0]")
        if plan.threads > plan.connections:
            raise BenchError(f"bench.latency has {plan.threads} threads for {plan.connections} connections: "
                             f"give at most one thread per connection")
        shortest = shortest_run_s(plan.connections, plan.threads)
        if plan.step < shortest:
            raise BenchError(f"bench.latency.step is {plan.step}s: wrk2 calibrates each thread for 10 s plus 5 ms per "
                             f"connection first, so {plan.connections} connections on {plan.threads} threads need a "
                             f"step of at least {shortest}s")
        return plan


def baseline_rate(maxima: dict[str, float | None], baseline: str) -> float | None:
    """The req/s the grid is a share of: the baseline's median, else (no clean baseline) the fastest server's."""
    if maxima.get(baseline):
        return maxima[baseline]
    measured = [rate for rate in maxima.values() if rate]
    return max(measured, default=None)


def offered_rates(base: float, grid: tuple[float, ...]) -> list[float]:
    """The grid's rates for ``base`` req/s, whole, ascending, each once and at least 1."""
    return sorted({max(1.0, float(round(base * share))) for share in grid})


def turns(servers: list, index: int) -> list:
    """The servers' order at the ``index``-th rate: turned by one from each rate to the next."""
    if not servers:
        return []
    turn = index % len(servers)
    return servers[turn:] + servers[:turn]


def refined_rate(sweeps: list[list[LoadResult]], rule: Rule) -> float | None:
    """The next rate to add: halfway between the slowest server's knee and the lowest rate above it that any server
    was loaded at; None when there is none to add (a server sustained no rate, the slowest sustained every rate, or
    the two are a request apart)."""
    knees = [knee(steps, rule).rate for steps in sweeps]
    if not knees or None in knees:
        return None
    slowest = min(knees)
    above = min((step.offered_per_s for steps in sweeps for step in steps if step.offered_per_s > slowest), default=None)
    if above is None:
        return None
    rate = float(round((slowest + above) / 2))
    return rate if slowest < rate < above else None


def seconds(plan: Plan, rates: int, servers: int) -> float:
    """What sweeping ``servers`` servers at ``rates`` rates (and the plan's refined ones) takes, about."""
    return (rates + plan.refine) * servers * (plan.step + STEP_OVERHEAD_S)
