"""The benchmark matrix: which cells a run measures, planned from settings alone."""
from __future__ import annotations

from itertools import product

from bench.errors import BenchError
from bench.records import Cell, Variant

from .servers import ServerKind

LOADGENS = ("weighttp", "wrk")
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


def plan(*, servers: list[tuple[ServerKind, list[Variant]]], payloads, keepalive, workers, loadgen,
         profile) -> list[Cell]:
    """Expand the settings into cells, grouped by keep-alive then payload; in each case every kind's variants
    (``servers``: each kind with its variants, the baseline first), in that order."""
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
        common = dict(payload=size, keepalive=alive, loadgen=loadgen, **load)
        cells += [Cell(server=kind.name, variant=variant, workers=kind.workers(variant, count), **common)
                  for kind, variants in servers for variant in variants]
    return list(dict.fromkeys(cells))  # a variant of fixed workers (Twisted's single mode) collapses a worker sweep


def cases(cells: list[Cell]) -> list[list[Cell]]:
    """The cells grouped by case (keep-alive × payload × workers), in plan order."""
    grouped: dict[tuple, list[Cell]] = {}
    for cell in cells:
        grouped.setdefault(cell.case, []).append(cell)
    return list(grouped.values())
