"""`inv compare`: two runs side by side."""
from __future__ import annotations

from pathlib import Path

from invoke import task

from bench.errors import BenchError
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
    target = output_file(output) if output else None
    markdown = compare_runs(run_folder(run_a, reports), run_folder(run_b, reports), force=force)
    print(printable(markdown), end="")  # labels and reasons come from the run's files
    if target:
        try:
            target.write_text(markdown)
        except OSError as exc:
            raise BenchError(f"--output {output}: {exc.strerror}; the comparison is printed above") from None


def output_file(output: str) -> Path:
    """Where --output writes, checked before anything is compared: a file, in a folder that exists."""
    path = Path(output)
    if path.is_dir():
        raise BenchError(f"--output {output} is a folder: name a file in it, e.g. {path / 'compare.md'}")
    if not path.parent.is_dir():
        raise BenchError(f"--output {output}: its folder {path.parent} does not exist; create it or name another file")
    return path
