"""The answer the lab exists for: each server's req/s as a share of the baseline's (Nginx's), with its interval (pure).

Also how each server's req/s moved from a case's first rounds to its last, so a reader
can tell the machine's drift from a difference between servers.
"""
from __future__ import annotations

import statistics

from tabulate import tabulate

from bench import ratios
from bench.envfile import Roles
from bench.records import ROUND_CAP, TARGET, TIME_CAP, CellRecord, Status
from bench.stats import Interval, drift, rounds_needed

from . import summary

CLIENT_BOUND, BOTH_BOUND, MACHINE_BOUND = "client-bound", "*", "†"
REACHED, CAPPED = "✓", "cap"


def case_key(record: CellRecord) -> tuple:
    return (record.cell.keepalive, record.cell.payload, record.cell.workers)


def baselines(records: list[CellRecord], baseline: str) -> dict[tuple, CellRecord]:
    """The baseline kind's record for each keep-alive × payload × workers: what every other cell is set against."""
    return {case_key(r): r for r in records if r.cell.server == baseline}


def compared(records: list[CellRecord], baseline: str) -> list[str]:
    """The kinds set against the baseline, in the order the records give them."""
    return list(dict.fromkeys(r.cell.server for r in records if r.cell.server != baseline))


def pair_words(records: list[CellRecord], roles: Roles) -> str:
    """'Twisted/Nginx': each kind set against the baseline, over it."""
    return " or ".join(f"{roles.display(kind)}/{roles.shown}" for kind in compared(records, roles.baseline)) or roles.shown


def clean_ratio(mine: CellRecord, base: CellRecord | None, per_core: bool = False) -> Interval | None:
    """The ratio, only when both cells are clean: a flagged or failed side is never set against the other."""
    if base is None or mine.status is not Status.OK or base.status is not Status.OK:
        return None
    return ratios.ratio(mine, base, per_core)


def interval_words(interval: Interval | None) -> str:
    if interval is None:
        return "—"
    if interval.low is None:
        return f"{interval.centre:.2f} (n={interval.n}: no interval)"
    return f"{interval.centre:.2f} ({interval.low:.2f}–{interval.high:.2f})"


def reached(interval: Interval, record: CellRecord) -> str:
    """' ✓' when the interval is within its case's target, ', cap' when a cap ended the case short of it;
    nothing for a run that did not record how its rounds ended."""
    ending = record.stopping
    if not ending or interval.low is None:
        return ""
    if ending["ended"] == TARGET or interval.half_width <= ending["target"]:
        return f" {REACHED}"
    return f", {CAPPED}"


def bound(mine: CellRecord, base: CellRecord) -> tuple[str, str]:
    """The ratio's marks from who held whom back: a prefix (≤ when the baseline's req/s is only a lower bound, ≥
    when this cell's is) and a suffix (* when both were, † when the machine was used up)."""
    held = (CLIENT_BOUND in mine.verdicts, CLIENT_BOUND in base.verdicts)
    prefix = {(False, True): "≤ ", (True, False): "≥ "}.get(held, "")
    suffix = (f" {BOTH_BOUND}" if all(held) else "") + (
        f" {MACHINE_BOUND}" if any("machine-bound" in r.verdicts for r in (mine, base)) else "")
    return prefix, suffix


def bounded_words(mine: CellRecord, base: CellRecord, interval: Interval | None) -> str:
    """'≤ 0.87 (0.83–0.91) †': the ratio and its interval with its marks."""
    if interval is None:
        return interval_words(interval)
    prefix, suffix = bound(mine, base)
    return f"{prefix}{interval_words(interval)}{suffix}"


def ratio_words(mine: CellRecord, base: CellRecord, interval: Interval) -> str:
    """'≤ 0.87 (0.83–0.91) n=9 ✓ †': the ratio, its interval, its rounds, whether it met its target, its marks."""
    prefix, suffix = bound(mine, base)
    if interval.low is None:
        return f"{prefix}{interval.centre:.2f} n={interval.n}: no interval{suffix}"
    return f"{prefix}{interval_words(interval)} n={interval.n}{reached(interval, mine)}{suffix}"


def case_words(key: tuple) -> str:
    keepalive, payload, workers = key
    return f"{'keep-alive' if keepalive else 'close'} {payload} B ×{workers}"


def short_of_target(shown: dict[tuple, list[tuple[CellRecord, CellRecord]]]) -> list[str]:
    """One line naming the cases a cap ended before their widest ratio met its target, and what it would take."""
    found, targets = [], set()
    for key in sorted(shown, key=lambda key: (not key[0], key[1], key[2])):
        widest = max(shown[key], key=lambda pair: clean_ratio(*pair).half_width)
        interval, ending = clean_ratio(*widest), widest[0].stopping
        if (not ending or interval.low is None or ending["ended"] not in (ROUND_CAP, TIME_CAP)
                or interval.half_width <= ending["target"]):
            continue
        needed = rounds_needed(ratios.estimate(*widest), ending["target"], ending["confidence"])
        would = f"; about {needed} rounds would reach it at this noise" if needed else ""
        found.append(f"{case_words(key)} ±{interval.half_width:.1%} after {ending['rounds']} rounds "
                     f"({ending['ended']}{would})")
        targets.add(ending["target"])
    if not found:
        return []
    return [f"Short of ±{max(targets):.0%} when their cap came (bench.statistics: max_seconds, max_repeats): "
            f"{'; '.join(found)}.", ""]


def round_rate(records: list[CellRecord]) -> list[str]:
    """The rounds each case had and how long a round took, from how the cases' rounds ended."""
    cases = {r.group or r.id: r.stopping for r in records if r.stopping and r.stopping.get("rounds")}
    if not cases:
        return []
    rounds = [ending["rounds"] for ending in cases.values()]
    seconds = sum(ending["seconds"] for ending in cases.values())
    spread = f"{min(rounds)}" if min(rounds) == max(rounds) else f"{min(rounds)}–{max(rounds)}"
    return [f"Rounds: {spread} per case ({statistics.fmean(rounds):.1f} on average over {len(cases)} "
            f"{'case' if len(cases) == 1 else 'cases'}), {seconds / sum(rounds):.1f} s a round.", ""]


def how_words(paired: set[bool]) -> str:
    how = {frozenset({True}): "the geometric mean of the per-round ratios (the servers of a case took turns, round "
                              "by round, so each round's two numbers were measured seconds apart); in brackets its "
                              "95 % interval, a t interval on the logs of the per-round ratios",
           frozenset({False}): "the ratio of each side's geometric mean (the servers were measured one after "
                               "another, so the machine's drift between them is in the ratio); in brackets its "
                               "95 % interval, Welch's t interval on the difference of the two sides' log means"}
    return how.get(frozenset(paired), "per round where the servers took turns (the geometric mean of the "
                                      "per-round ratios), else the ratio of each side's geometric mean; in brackets "
                                      "its 95 % t interval on the log scale")


def stopping_words(records: list[CellRecord]) -> str:
    endings = [r.stopping for r in records if r.stopping]
    if not endings:
        return ""
    target, confidence = max(e["target"] for e in endings), max(e["confidence"] for e in endings)
    words = (f" *n*: the rounds it rests on; {REACHED}: the interval is within ±{target:.0%} of the ratio; "
             f"*{CAPPED}*: the case's time or round cap ended its rounds first.")
    if confidence > ratios.CONFIDENCE:
        words += (f" A case ends early on that target only from bench.statistics.min_rounds on, and only once a "
                  f"stricter interval ({confidence:.1%}: the 5 % of error spent over every round at which it may "
                  f"stop) is within ±{target:.0%}; that interval is then the one shown, as stopping at the first "
                  f"narrow interval would claim more confidence than it has.")
    return words


def answer_section(records: list[CellRecord], roles: Roles) -> list[str]:
    """For each kind set against the baseline, one row per configuration; per case, the ratio with its 95 %
    interval, and per server core."""
    bases = baselines(records, roles.baseline)
    if not bases:
        return []
    lines, shown = [], {}
    for kind in compared(records, roles.baseline):
        lines += kind_section([r for r in records if r.cell.server == kind], bases, roles.display(kind), roles.shown,
                              shown)
    if not lines:
        return []
    return lines + [*short_of_target(shown), *round_rate(records)]


def kind_section(mine: list[CellRecord], bases: dict[tuple, CellRecord], name: str, base_name: str,
                 shown: dict[tuple, list[tuple[CellRecord, CellRecord]]]) -> list[str]:
    """'Twisted against Nginx': a kind's configurations against the baseline; the ratios shown go into ``shown``."""
    cases = sorted({(not r.cell.keepalive, r.cell.payload) for r in mine})
    several = len({r.cell.workers for r in mine}) > 1
    rows: dict[str, dict] = {}
    paired: set[bool] = set()
    for record in mine:
        cell = record.cell
        label = f"`{record.label}`" + (f" ×{cell.workers}" if several else "")
        baseline = bases.get(case_key(record))
        words = per_core = None
        if baseline is not None:
            ratio, per_core = clean_ratio(record, baseline), clean_ratio(record, baseline, per_core=True)
            if ratio is not None:
                words = ratio_words(record, baseline, ratio)
                shown.setdefault(case_key(record), []).append((record, baseline))
            paired.add(ratios.paired(record, baseline))
        rows.setdefault(label, {})[(not cell.keepalive, cell.payload)] = (
            words or "—", f"{per_core.centre:.2f}" if per_core else "—")
    headers = [name]
    for closing, payload in cases:
        headers += [f"{payload} B, {'close' if closing else 'keep-alive'}", "per core"]
    table = [[label, *[part for case in cases for part in found.get(case, ("—", "—"))]]
             for label, found in rows.items()]
    return [f"## {name} against {base_name}", "",
            f"{name}'s req/s divided by {base_name}'s, same payload, keep-alive and workers: {how_words(paired)}."
            f"{stopping_words(mine)}", "",
            f"≤: {base_name} was held back by its load generator (client-bound, also when its server was busy too: its "
            f"req/s is a lower bound), so the ratio is an upper bound; ≥: {name} was, so the ratio is a lower bound; "
            f"{BOTH_BOUND}: both were, so the ratio may be off either way and no direction can be given; "
            f"{MACHINE_BOUND}: server and load generator together used the whole machine (see *Who was the limit*). "
            "— where either side has no clean number. *Per core* divides each side's req/s by the CPU cores its "
            "server used; it assumes req/s grows in proportion to cores, which nothing here measured.", "",
            tabulate(table, headers, tablefmt="github", disable_numparse=True), ""]


def drift_section(records: list[CellRecord]) -> list[str]:
    """Each clean server's req/s in a case's first third of rounds against its last third."""
    rows = []
    for record in records:
        numbers = [run for run in summary.numbers(record) if run.round is not None]
        ends = drift([run.req_per_s for run in numbers])
        if ends is None or not ends[0]:
            continue
        first, last = ends
        cell = record.cell
        rows.append([f"`{record.label}`", cell.payload, "yes" if cell.keepalive else "no", cell.workers,
                     len(numbers), f"{first:,.0f}", f"{last:,.0f}", f"{last / first - 1:+.1%}"])
    if not rows:
        return []
    return ["## Drift across rounds", "",
            "Each server's req/s over the first third of its case's rounds against the last third. When every "
            "server of a case moved the same way, the machine itself drifted; the per-round ratio cancels that.", "",
            tabulate(rows, ["cell", "payload", "keep-alive", "workers", "rounds", "first rounds", "last rounds",
                            "change"], tablefmt="github", disable_numparse=True), ""]
