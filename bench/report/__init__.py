"""inv report and inv compare: markdown and charts rendered from a run folder alone."""
from __future__ import annotations

from pathlib import Path

from .charts import write_charts
from .compare import compare_runs
from .markdown import render
from .summary import load_run, req_per_s, rounds_words

__all__ = ["compare_runs", "load_run", "render", "req_per_s", "rounds_words", "write", "write_charts"]


def write(run_dir: str | Path) -> Path:
    """report.md and its charts, from the run's files alone."""
    records, env = load_run(run_dir)
    names = [path.name for path in write_charts(run_dir)]
    target = Path(run_dir) / "report.md"
    target.write_text(render(records, env, names))
    return target
