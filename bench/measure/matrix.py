"""The benchmark matrix: which cells a run measures, planned from settings alone."""
from __future__ import annotations

from itertools import product

from bench.errors import BenchError
from bench.records import Cell

SERVERS = ("nginx", "twisted")
INTERPRETERS = ("pypy", "cpython")
MODES = ("shared", "reuseport", "single")
RESOURCES = ("fixed", "file")
MAX_PAYLOAD = 64 * 1024 * 1024


def parse_list(value, kind=str, name: str = "value") -> tuple:
    """Accept a YAML list or a comma-separated flag value; return a tuple of ``kind``."""
    if value is None:
        return ()
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    try:
        return tuple(kind(str(item).strip()) if kind is not bool else _boolean(item) for item in items if str(item).strip())
    except ValueError:
        raise BenchError(f"bad {name} {value!r}: give a comma-separated list of {kind.__name__} values") from None


def _boolean(item) -> bool:
    if isinstance(item, bool):
        return item
    text = str(item).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise ValueError(item)


def _check(name: str, values: tuple, allowed: tuple) -> tuple:
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise BenchError(f"unknown {name} {', '.join(map(str, unknown))}: choose from {', '.join(allowed)}")
    if not values:
        raise BenchError(f"no {name} chosen: choose from {', '.join(allowed)}")
    return values


def load_for(profile: dict, keepalive: bool) -> dict:
    """The load a profile gives one half of the matrix: concurrency, threads, requests or duration."""
    half = profile.get("keepalive" if keepalive else "close") or {}
    if not half.get("requests") and not half.get("duration"):
        raise BenchError(f"load profile has neither requests nor duration for {'keep-alive' if keepalive else 'close'}: set one in invoke.yaml")
    concurrency = int(half.get("concurrency", 100))
    threads = min(int(half.get("threads", 1)), concurrency)
    if concurrency < 1 or threads < 1:
        raise BenchError("load profile concurrency and threads must be at least 1")
    return {
        "concurrency": concurrency,
        "threads": threads,
        "requests": int(half["requests"]) if half.get("requests") else None,
        "duration": float(half["duration"]) if half.get("duration") else None,
    }


def plan(*, servers, interpreters, modes, resources, payloads, keepalive, workers, loadgen, profile,
         pipeline: int = 1) -> list[Cell]:
    """Expand the settings into cells, grouped by keep-alive then payload, Nginx first."""
    servers = _check("server", servers, SERVERS)
    resources = _check("resource", resources, RESOURCES)
    if "twisted" in servers:
        interpreters = _check("interpreter", interpreters, INTERPRETERS)
        modes = _check("mode", modes, MODES)
    if not payloads:
        raise BenchError("no payload chosen: pass --payloads, e.g. 40,10000")
    for size in payloads:
        if not 0 < size <= MAX_PAYLOAD:
            raise BenchError(f"payload {size} bytes is out of range: choose 1 to {MAX_PAYLOAD} bytes")
    if not keepalive:
        raise BenchError("neither keep-alive nor close chosen: drop --keepalive/--no-keepalive conflicts")
    for count in workers:
        if count < 1:
            raise BenchError(f"workers must be at least 1, not {count}")

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
