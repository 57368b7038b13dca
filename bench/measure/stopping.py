"""When a case's rounds end: the stopping rule the runner calls after every round (pure).

Rounds go on until every interval the rule watches (each cell's ratio to its case's baseline,
Nginx by default) is within ±``target`` of its centre, or until a cap. Stopping at the first
narrow interval keeps exactly the rounds that happened to agree, and claims more confidence
than it has (optional stopping). So:

- the target may end a case only from round ``min_rounds`` on (and never before ``repeats``);
- where it may, the rule checks a stricter interval than 95 %: the 5 % of error spread
  evenly over every round at which it may stop (Bonferroni; 25 such rounds: 99.8 %). Whatever
  round a case stops at, the interval it stopped on then misses the true ratio at most 5 %
  of the time, and it is the interval the report shows for that case;
- a case that ends at a cap shows its plain 95 % interval.

``inv coverage`` runs this rule on simulated cases (:mod:`bench.measure.coverage`).
"""
from __future__ import annotations

from dataclasses import dataclass

from bench import ratios
from bench.records import ROUND_CAP, TARGET, TIME_CAP, CellRecord, Status
from bench.stats import Interval, interval, log_mean


@dataclass(frozen=True)
class Rule:
    """The stopping rule's settings (bench.repeats and bench.statistics)."""

    repeats: int  # rounds at least, whatever the caps
    min_rounds: int  # the target may end a case from this round on
    max_repeats: int  # the round cap
    max_seconds: float  # the time cap: no round begins that would end past it
    target: float  # every watched interval within ± this share of its centre
    baseline: str  # the kind each cell's ratio is taken against (bench.baseline)

    @classmethod
    def of(cls, repeats: int, statistics: dict, baseline: str) -> Rule:
        """The rule of bench.repeats, bench.statistics and bench.baseline, as a run's options give them."""
        return cls(repeats=repeats, min_rounds=statistics["min_rounds"], max_repeats=statistics["max_repeats"],
                   max_seconds=statistics["max_seconds"], target=statistics["ci_target"], baseline=baseline)

    @property
    def first(self) -> int:
        """The first round at which the target may end a case."""
        return max(self.min_rounds, self.repeats, 2)

    @property
    def looks(self) -> int:
        """The rounds at which the target may end a case, at most."""
        return max(self.max_repeats - self.first + 1, 1)

    @property
    def confidence(self) -> float:
        """The confidence of the interval the target is checked on: 95 %'s error spent over the looks."""
        return 1 - (1 - ratios.CONFIDENCE) / self.looks


def intervals(records: list[CellRecord], baseline: str, confidence: float = ratios.CONFIDENCE) -> list[Interval | None]:
    """What the rule watches: each cell's ratio to the ``baseline`` kind's, or each server's req/s where there is no
    baseline."""
    base = next((r for r in records if r.cell.server == baseline and r.status is not Status.FAILED), None)
    others = [r for r in records if r.cell.server != baseline and r.status is not Status.FAILED]
    if base is not None and others:
        return [ratios.ratio(record, base, confidence=confidence) for record in others]
    found = [log_mean(run.req_per_s for run in record.numbers) for record in records if record.status is not Status.FAILED]
    return [None if estimate is None else interval(estimate, confidence) for estimate in found]


def ended(records: list[CellRecord], rounds: int, seconds: float, rule: Rule) -> str | None:
    """Why the case's rounds end after ``rounds`` rounds that took ``seconds``; None while they go on."""
    if rounds < rule.repeats:
        return None
    if rounds >= rule.first:
        found = intervals(records, rule.baseline, rule.confidence)
        if found and all(interval is not None and interval.half_width <= rule.target for interval in found):
            return TARGET
    if rounds >= rule.max_repeats:
        return ROUND_CAP
    if seconds + seconds / rounds > rule.max_seconds:
        return TIME_CAP
    return None


def outcome(rule: Rule, rounds: int, seconds: float, why: str) -> dict:
    """What each record of the case keeps of how its rounds ended (CellRecord.stopping)."""
    return {"rounds": rounds, "ended": why, "seconds": round(seconds, 3), "target": rule.target,
            "confidence": round(rule.confidence, 6)}


def widest(records: list[CellRecord], rule: Rule, rounds: int) -> str:
    """The rule's progress after ``rounds`` rounds: the widest interval it watches, against its target (before the
    target may end the case, the 95 % interval)."""
    checked = rounds >= rule.first
    confidence = rule.confidence if checked else ratios.CONFIDENCE
    widths = [found.half_width for found in intervals(records, rule.baseline, confidence)
              if found is not None and found.low is not None]
    if not widths:
        return ""
    target = f"target ±{rule.target:.0%}" if checked else f"target ±{rule.target:.0%} from round {rule.first}"
    return f"widest interval ±{max(widths):.1%} at {confidence:.1%} ({target})"
