"""`inv compare`: two runs side by side."""
from __future__ import annotations

from pathlib import Path

from invoke import task

from bench.report.compare import compare_runs
from bench.terminal import printable

from . import exits, run_folder


@task(help={
    "run_a": "the run to compare against (the baseline): a folder, or a name under reports/",
    "run_b": "the run to compare: a folder, or a name under reports/",
    "force": "compare even when the runs' settings or tool versions differ",
    "output": "also write the markdown to this file",
})
@exits()
def compare(c, run_a, run_b, force=False, output=None):
    """Compare two runs: the Twisted/Nginx ratios (within noise or changed), what differs around them, req/s per cell."""
    reports = c.config.bench.reports
    markdown = compare_runs(run_folder(run_a, reports), run_folder(run_b, reports), force=force)
    print(printable(markdown), end="")  # labels and reasons come from the run's files
    if output:
        Path(output).write_text(markdown)
