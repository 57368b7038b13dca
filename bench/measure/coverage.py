"""How often the headline interval covers the true ratio, stopping rule included: a simulation (pure).

Each simulated case is a baseline's record and another server's, measured in paired rounds,
as the runner makes them. Each round both servers share the machine's drift (a random walk),
and each run has its own lognormal noise. After every round the real stopping rule
(:func:`.stopping.ended`) decides on the real intervals; once it ends the case, the
interval the report shows (:func:`bench.ratios.ratio`) is checked against the true
ratio. A time cap that allows k rounds is modelled as rounds of one second each and a
cap of k and a half seconds.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

from tabulate import tabulate

from bench import ratios
from bench.records import TARGET, Cell, CellRecord, LoadResult

from . import stopping

TRUE_RATIO = 0.6
BASELINE_RATE = 80_000.0
DRIFT = 0.05  # the machine's drift: a random walk shared by both servers, this step per round (log scale)
NOISES = (0.03, 0.10, 0.25)  # each run's own noise (log standard deviation), per server
CAPS = (3, 8, 30)  # the rounds the time cap allows (30: the round cap, by default)
MIN_CASES = 100  # fewer cases ending at some n are too few to tell that n's coverage


@dataclass(frozen=True)
class Ending:
    """How one simulated case ended, and whether the interval shown covered the true ratio."""

    noise: float
    cap: int
    rounds: int
    ended: str
    covered: bool


def _record(server: str) -> CellRecord:
    cell = Cell(server=server, variant={}, workers=1, payload=40, keepalive=True, loadgen="simulated", concurrency=1,
                threads=1, duration=1.0)
    return CellRecord(cell=cell, group="simulated")


def _run(rate: float, number: int) -> LoadResult:
    return LoadResult(tool="simulated", command="simulated", seconds=1.0, req_per_s=rate, kbyte_per_s=0.0,
                      succeeded=1, status={"2xx": 1}, round=number)


def simulate(rule: stopping.Rule, noise: float, cap: int, cases: int, seed: int) -> list[Ending]:
    """``cases`` simulated cases under ``rule``, its time cap allowing ``cap`` rounds of one second."""
    rng = random.Random(f"{seed}/{noise}/{cap}")
    capped = replace(rule, max_seconds=cap + 0.5)
    endings = []
    for _ in range(cases):
        baseline, other = _record(rule.baseline), _record(f"not-{rule.baseline}")
        drift, rounds, why = 0.0, 0, None
        while why is None:
            drift += rng.gauss(0.0, DRIFT)
            baseline.runs.append(_run(BASELINE_RATE * math.exp(drift + rng.gauss(0.0, noise)), rounds))
            other.runs.append(_run(TRUE_RATIO * BASELINE_RATE * math.exp(drift + rng.gauss(0.0, noise)), rounds))
            rounds += 1
            why = stopping.ended([baseline, other], rounds, float(rounds), capped)
        for record in (baseline, other):
            record.stopping = stopping.outcome(capped, rounds, float(rounds), why)
        shown = ratios.ratio(other, baseline)
        covered = shown.low is not None and shown.low <= TRUE_RATIO <= shown.high
        endings.append(Ending(noise=noise, cap=cap, rounds=rounds, ended=why, covered=covered))
    return endings


def simulate_all(rule: stopping.Rule, cases: int = 1000, seed: int = 1, noises=NOISES, caps=CAPS) -> list[Ending]:
    return [ending for noise in noises for cap in caps for ending in simulate(rule, noise, cap, cases, seed)]


def coverage(endings: list[Ending]) -> dict[tuple[float, int, int | None], tuple[int, float]]:
    """(noise, cap, rounds) -> (cases, share covered); rounds None for all the cases of a noise and cap."""
    groups: dict[tuple, list[bool]] = {}
    for ending in endings:
        for rounds in (ending.rounds, None):
            groups.setdefault((ending.noise, ending.cap, rounds), []).append(ending.covered)
    return {key: (len(found), sum(found) / len(found)) for key, found in groups.items()}


def table(endings: list[Ending], rule: stopping.Rule) -> str:
    """The coverage by the rounds a case ended at (rows) and the noise (columns), for each cap, as markdown."""
    found = coverage(endings)
    noises = sorted({e.noise for e in endings})
    rows = []
    for cap in sorted({e.cap for e in endings}):
        for rounds in sorted({e.rounds for e in endings if e.cap == cap}) + [None]:
            cells = []
            for noise in noises:
                cases, share = found.get((noise, cap, rounds), (0, 0.0))
                few = " (few)" if cases < MIN_CASES and rounds is not None else ""
                cells.append(f"{share:.1%} of {cases}{few}" if cases else "")
            rows.append([f"{cap} rounds", "all" if rounds is None else rounds, *cells])
        on_target = [[e.ended == TARGET for e in endings if (e.noise, e.cap) == (noise, cap)] for noise in noises]
        rows.append([f"{cap} rounds", "ended on target", *[f"{sum(found) / len(found):.0%}" for found in on_target]])
    overall = sum(e.covered for e in endings) / len(endings)
    return "\n".join([
        f"Coverage of the 95 % interval the report shows, true ratio {TRUE_RATIO}, by the round a case ended at; "
        f"each run's own lognormal noise per column (the per-round ratio's is √2 times it), a shared drift of "
        f"{DRIFT:.0%} a round; the time cap allows the rounds in the first column. Stopping rule: the target "
        f"±{rule.target:.0%} checked from round {rule.first} on at {rule.confidence:.1%}, round cap "
        f"{rule.max_repeats}. (few): fewer than {MIN_CASES} cases, too few to tell.", "",
        tabulate(rows, ["cap", "ended at n", *[f"noise {noise:.0%}" for noise in noises]], tablefmt="github",
                 disable_numparse=True), "",
        f"All {len(endings)} cases: {overall:.1%} covered."])
