"""The answer the lab exists for: Twisted's req/s as a share of Nginx's, with its interval (pure).

Also how each server's req/s moved from a case's first rounds to its last, so a reader
can tell the machine's drift from a difference between servers.
"""
from __future__ import annotations

from tabulate import tabulate

from bench import ratios
from bench.records import CellRecord, Status
from bench.stats import Interval, drift

from . import summary

MARKS = {"client-bound": "*", "machine-bound": "†"}


def case_key(record: CellRecord) -> tuple:
    return (record.cell.keepalive, record.cell.payload, record.cell.workers)


def nginx_baselines(records: list[CellRecord]) -> dict[tuple, CellRecord]:
    """Nginx's record for each keep-alive × payload × workers: what Twisted is set against."""
    return {case_key(r): r for r in records if r.cell.server == "nginx"}


def clean_ratio(twisted: CellRecord, nginx: CellRecord | None, per_core: bool = False) -> Interval | None:
    """The ratio, only when both cells are clean: a flagged or failed side is never set against the other."""
    if nginx is None or twisted.status is not Status.OK or nginx.status is not Status.OK:
        return None
    return ratios.ratio(twisted, nginx, per_core)


def interval_words(interval: Interval | None) -> str:
    if interval is None:
        return "—"
    return f"{interval.median:.2f} ({interval.low:.2f}–{interval.high:.2f})"


def marks(*records: CellRecord | None) -> str:
    found = [mark for verdict, mark in MARKS.items() if any(r and verdict in r.verdicts for r in records)]
    return (" " + "".join(found)) if found else ""


def answer_section(records: list[CellRecord]) -> list[str]:
    """One row per Twisted configuration; per case, the ratio with its 95 % interval, and per server core."""
    nginx = nginx_baselines(records)
    twisted = [r for r in records if r.cell.server == "twisted"]
    if not nginx or not twisted:
        return []
    cases = sorted({(not r.cell.keepalive, r.cell.payload) for r in twisted})
    several = len({r.cell.workers for r in twisted}) > 1
    rows: dict[str, dict] = {}
    rounds = set()
    for record in twisted:
        cell = record.cell
        name = f"`{record.label}`" + (f" ×{cell.workers}" if several else "")
        baseline = nginx.get(case_key(record))
        shown = ratio = per_core = None
        if baseline is not None:
            ratio, per_core = clean_ratio(record, baseline), clean_ratio(record, baseline, per_core=True)
            shown = ratio and interval_words(ratio) + marks(record, baseline)
            rounds.add(ratios.paired(record, baseline))
        rows.setdefault(name, {})[(not cell.keepalive, cell.payload)] = (
            shown or "—", f"{per_core.median:.2f}" if per_core else "—")
    headers = ["Twisted"]
    for closing, payload in cases:
        headers += [f"{payload} B, {'close' if closing else 'keep-alive'}", "per core"]
    table = [[name, *[part for case in cases for part in found.get(case, ("—", "—"))]] for name, found in rows.items()]
    how = {frozenset({True}): "the median of per-round ratios: the servers of a case took turns, round by round, "
                              "so each round's two numbers were measured seconds apart",
           frozenset({False}): "the ratio of medians: the servers were measured one after another, so the "
                               "machine's drift between them is in the ratio"}
    return ["## Twisted against Nginx", "",
            f"Twisted's req/s divided by Nginx's, same payload, keep-alive and workers: "
            f"{how.get(frozenset(rounds), 'per round where the servers took turns, else the ratio of medians')}; "
            "in brackets its 95 % bootstrap interval. *Per core* divides each side's req/s by the CPU cores its "
            "server used: the ratio like for like when the load generator took CPU from the server. "
            "— where either side has no clean number; * where a side was client-bound (its req/s is only a "
            "lower bound); † where server and load generator together used the whole machine: see "
            "*Who was the limit*.", "",
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
