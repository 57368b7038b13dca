"""The benchmark matrix: which cells a run measures, planned from settings alone."""
from __future__ import annotations

from itertools import product

from bench.records import Cell

SERVERS = ("nginx", "twisted")
INTERPRETERS = ("pypy", "cpython")
MODES = ("shared", "reuseport", "single")
RESOURCES = ("fixed", "file")


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


def plan(*, servers, interpreters, modes, resources, payloads, keepalive, workers, loadgen, profile,
         pipeline: int = 1) -> list[Cell]:
    """Expand the settings (checked by the options) into cells, grouped by keep-alive then payload, Nginx first."""
    cells = []
    for alive, size, count in product(keepalive, payloads, workers):
        load = load_for(profile, alive)
        common = dict(workers=count, payload=size, keepalive=alive, loadgen=loadgen, pipeline=pipeline, **load)
        if "nginx" in servers:
            cells.append(Cell(server="nginx", interpreter=None, mode=None, resource="file", **common))
        if "twisted" in servers:
            for interpreter, mode, resource in product(interpreters, modes, resources):
                cells.append(Cell(server="twisted", interpreter=interpreter, mode=mode, resource=resource,
                                  **{**common, "workers": 1 if mode == "single" else count}))
    return list(dict.fromkeys(cells))  # single mode collapses a worker sweep


def cases(cells: list[Cell]) -> list[list[Cell]]:
    """The cells grouped by case (keep-alive × payload × workers), in plan order, Nginx first in each."""
    grouped: dict[tuple, list[Cell]] = {}
    for cell in cells:
        grouped.setdefault(cell.case, []).append(cell)
    return list(grouped.values())
