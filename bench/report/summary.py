"""What every view of a run shares: reading its folder, and a cell's figures.

A cell's figures (req/s, per core, kbyte/s, latency) come only from :func:`numbers`, which
gives none for a cell that is not clean: a flagged, failed or interrupted cell is never
a figure, in any table, chart or line, even when some of its rounds were clean.
"""
from __future__ import annotations

from pathlib import Path

from bench.envfile import read_env
from bench.errors import BenchError
from bench.records import CellRecord, LoadResult, Status, read_records
from bench.stats import Summary, summarize

MARK = "⚠"  # beside anything that is not a clean number


def load_run(run_dir: str | Path) -> tuple[list[CellRecord], dict]:
    """A run folder's records and env.json ({} when it has none)."""
    run_dir = Path(run_dir)
    if not (run_dir / "results.jsonl").exists():
        raise BenchError(f"{run_dir} has no results.jsonl: give a run folder made by `inv bench`")
    return read_records(run_dir / "results.jsonl"), read_env(run_dir / "env.json")


def numbers(record: CellRecord) -> list[LoadResult]:
    """The runs a view may show as figures: the clean measured runs of a clean cell, none of any other."""
    return record.numbers if record.status is Status.OK else []


def req_per_s(record: CellRecord) -> Summary | None:
    """The req/s of a clean cell's runs; None for a cell that is not clean or has no number."""
    return summarize(run.req_per_s for run in numbers(record))


def per_core(record: CellRecord) -> Summary | None:
    """req/s per CPU core the server used, over a clean cell's runs that were sampled."""
    return summarize(run.req_per_s / run.server_cores for run in numbers(record) if run.server_cores)


def kbyte_per_s(record: CellRecord) -> Summary | None:
    """kbyte/s of a clean cell's runs whose tool counted the bytes; None when none did."""
    return summarize(run.kbyte_per_s for run in numbers(record) if run.kbyte_per_s is not None)


def rounds_words(record: CellRecord) -> str:
    """How many rounds were measured and how many were clean, e.g. "3 rounds measured, 2 clean"."""
    measured = len(record.measured)
    return f"{measured} round{'' if measured == 1 else 's'} measured, {len(record.numbers)} clean"


def workers(count: int) -> str:
    return f"{count} worker" if count == 1 else f"{count} workers"
