"""A kind's variants side by side: each Twisted release, interpreter or resource against another (pure).

Where a run measured several values of one variant key (Twisted 22.10.0, 24.3.0 and 26.4.0; PyPy and
CPython), the cells that differ only in that key took turns in the same rounds, as each did with the
baseline: their per-round ratio is the same paired estimate as the headline's, with the same interval
and marks (:mod:`.headline`). Each value is set against the key's first value in the run (the first
release, interpreter or resource the run names).
"""
from __future__ import annotations

from tabulate import tabulate

from bench.envfile import Roles
from bench.records import CellRecord

from .headline import case_key, clean_ratio, ratio_words


def varying(records: list[CellRecord]) -> dict[str, list[str]]:
    """The variant keys of ``records`` (one kind) with more than one value, each key's values in the run's order."""
    values: dict[str, dict[str, None]] = {}
    for record in records:
        for key, value in record.cell.variant.items():
            values.setdefault(key, {})[value] = None
    return {key: list(found) for key, found in values.items() if len(found) > 1}


def decided(records: list[CellRecord], key: str, other: str) -> bool:
    """Whether each value of ``key`` comes with one value of ``other`` only in these records (without --twisted, each
    interpreter runs the newest release it can: PyPy 26.4.0, CPython 26.10.0)."""
    pairs = {(r.cell.variant[key], r.cell.variant[other]) for r in records}
    return len({value for value, _ in pairs}) == len(pairs)


def confounded(records: list[CellRecord], key: str, keys: list[str]) -> list[str]:
    """The other varying keys that ``key``'s value decides: set aside when pairing on ``key``, and named in the row."""
    return [other for other in keys if other != key and decided(records, key, other)]


def _rest(record: CellRecord, ignored: set[str]) -> tuple:
    """What a record is besides the ``ignored`` keys: its case and the rest of its variant."""
    return (case_key(record), tuple((k, v) for k, v in record.cell.variant.items() if k not in ignored))


def key_table(records: list[CellRecord], key: str, name: str, values: list[str], along: list[str] = ()) -> list[str]:
    """One row per value of ``key`` but the first and per rest of the variant; per case, its ratio to the first.
    The keys ``along`` change with ``key`` (see :func:`confounded`): each row says how."""
    ignored = {key, *along}
    first = {_rest(r, ignored): r for r in records if r.cell.variant[key] == values[0]}
    cases = sorted({case_key(r) for r in records}, key=lambda case: (not case[0], case[1], case[2]))
    several = len({workers for _, _, workers in cases}) > 1
    rows: dict[str, dict[tuple, str]] = {}
    for record in records:
        value = record.cell.variant[key]
        partner = first.get(_rest(record, ignored))
        if value == values[0] or partner is None:
            continue
        rest = "/".join(v for k, v in record.cell.variant.items() if k not in ignored)
        changed = [f"{k} {record.cell.variant[k]} ÷ {partner.cell.variant[k]}" for k in along]
        words = ", ".join(part for part in (rest, *changed) if part)
        label = f"{value} ÷ {values[0]}" + (f" ({words})" if words else "")
        found = clean_ratio(record, partner)
        rows.setdefault(label, {})[case_key(record)] = ratio_words(record, partner, found) if found else "—"
    if not rows:
        return []
    headers = [name] + [f"{payload} B, {'keep-alive' if keepalive else 'close'}" + (f" ×{workers}" if several else "")
                       for keepalive, payload, workers in cases]
    table = [[label, *(found.get(case, "—") for case in cases)] for label, found in rows.items()]
    return [tabulate(table, headers, tablefmt="github", disable_numparse=True), ""]


def variants_section(records: list[CellRecord], roles: Roles) -> list[str]:
    """For each kind with variants that differ in one key, each value against the first, case by case."""
    lines = []
    for kind in dict.fromkeys(r.cell.server for r in records):
        mine = [r for r in records if r.cell.server == kind]
        keys = varying(mine)
        for index, (key, values) in enumerate(keys.items()):
            along = confounded(mine, key, list(keys))
            if any(other in along and decided(mine, other, key) for other in list(keys)[:index]):
                continue  # each value goes with one of an earlier key's, and the other way round: that table has it
            name = "release" if key == kind else key  # a kind names its own version after itself (twisted)
            table = key_table(mine, key, name, values, along)
            if table:
                lines += [f"### {roles.display(kind)}'s {name}: each against {values[0]}", "", *table]
    if not lines:
        return []
    return ["## Side by side", "",
            "Cells of one kind that differ in one thing only (a Twisted release, an interpreter, a resource; where "
            "two change together, as each interpreter on the newest release it can run, the row says so), set "
            "against each other as each is against the baseline: each one's req/s over the first one's, round by "
            "round where they took turns (else over the first one's geometric mean), with the interval, *n* and "
            "marks of the headline (≤: the first one was held back by its load generator, so the ratio is "
            "an upper bound; ≥: the other one was, so it is a lower bound). Above 1: faster than the first.", "", *lines]
