"""The benchmark matrix: which cells a run measures, planned from settings alone."""
from __future__ import annotations

from itertools import product

from bench.records import Cell, Variant

from .servers import ServerKind


def load_for(profile: dict, keepalive: bool) -> dict:
    """The load a profile gives one half of the matrix (checked whole by the options): concurrency, threads,
    requests or duration."""
    half = profile["keepalive" if keepalive else "close"]
    return {
        "concurrency": half["concurrency"],
        "threads": half["threads"],
        "requests": int(half["requests"]) if half.get("requests") else None,
        "duration": float(half["duration"]) if half.get("duration") else None,
    }


def plan(*, servers: list[tuple[ServerKind, list[Variant]]], payloads, keepalive, workers, loadgen,
         profile, pipeline: int = 1) -> list[Cell]:
    """Expand the settings (checked by the options) into cells, grouped by keep-alive then payload; in each case
    every kind's variants (``servers``: each kind with its variants, the baseline first), in that order."""
    cells = []
    for alive, size, count in product(keepalive, payloads, workers):
        load = load_for(profile, alive)
        common = dict(payload=size, keepalive=alive, loadgen=loadgen, pipeline=pipeline, **load)
        cells += [Cell(server=kind.name, variant=variant, workers=kind.workers(variant, count), **common)
                  for kind, variants in servers for variant in variants]
    return list(dict.fromkeys(cells))  # a variant of fixed workers (Twisted's single mode) collapses a worker sweep


def cases(cells: list[Cell]) -> list[list[Cell]]:
    """The cells grouped by case (keep-alive × payload × workers), in plan order."""
    grouped: dict[tuple, list[Cell]] = {}
    for cell in cells:
        grouped.setdefault(cell.case, []).append(cell)
    return list(grouped.values())
