"""What every view of a run shares: reading its folder, and a cell's req/s summarized."""
from __future__ import annotations

from pathlib import Path

from bench.envfile import read_env
from bench.errors import BenchError
from bench.records import CellRecord, read_records
from bench.stats import Summary, summarize

MARK = "⚠"  # beside anything that is not a clean number


def load_run(run_dir: str | Path) -> tuple[list[CellRecord], dict]:
    """A run folder's records and env.json ({} when it has none)."""
    run_dir = Path(run_dir)
    if not (run_dir / "results.jsonl").exists():
        raise BenchError(f"{run_dir} has no results.jsonl: give a run folder made by `inv bench`")
    return read_records(run_dir / "results.jsonl"), read_env(run_dir / "env.json")


def req_per_s(record: CellRecord) -> Summary | None:
    """The req/s of the runs that are numbers (measured and clean); None when there are none."""
    return summarize(run.req_per_s for run in record.numbers)


def per_core(record: CellRecord) -> Summary | None:
    """req/s per CPU core the server used, over the runs that are numbers and were sampled."""
    return summarize(run.req_per_s / run.server_cores for run in record.numbers if run.server_cores)


def workers(count: int) -> str:
    return f"{count} worker" if count == 1 else f"{count} workers"
