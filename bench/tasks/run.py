"""`inv bench` and `inv report`."""
from __future__ import annotations

import sys

from invoke import Exit, task

from bench import report as reports
from bench.config import plain
from bench.errors import BenchError
from bench.measure.campaign import run_campaign, unclean_cells
from bench.measure.options import help_of, repeated, resolve, resume_conflicts, run_flags, stored, taking_flags

from . import exits, run_folder

# `inv bench` exits with this when the run finished but some cells failed or were flagged.
SOME_CELLS_FAILED = 2


@task(auto_shortflags=False, iterable=repeated(), help=help_of())
@exits()
@taking_flags()
def bench(c, **flags):
    """Measure Twisted Web against Nginx and write reports/<run>/report.md.

    Exit codes: 0 every cell measured cleanly; 1 the run could not start or stopped on an
    error; 2 the run finished but some cells failed or were flagged; 130 interrupted.
    """
    lab = {**plain(c.config.lab), **{name: flags[name] for name in ("key", "known_hosts") if flags[name]}}
    # `inv ...`, `invoke ...` or `python -m invoke ...` (whose argv[0] is invoke/__main__.py)
    command = (" ".join(["inv", *sys.argv[1:]]) if sys.argv[0].endswith(("inv", "invoke", "invoke/__main__.py"))
               else "inv bench")
    if flags["resume"]:
        run_dir = run_folder(flags["resume"], c.config.bench.reports)
        options = stored(run_dir, c.config)
        if run_flags(flags):
            conflicts = resume_conflicts(options, resolve(c.config, flags, command))
            if conflicts:
                raise BenchError(f"--resume {run_dir} keeps the run's settings; these differ: "
                                 f"{'; '.join(conflicts)} — drop those flags or start a new run")
        run_dir = run_campaign(options, lab_config=lab, trust_new=flags["trust_new_host"], resume=run_dir)
    else:
        run_dir = run_campaign(resolve(c.config, flags, command), lab_config=lab, trust_new=flags["trust_new_host"])
    print(f"report: {run_dir / 'report.md'}")
    unclean = unclean_cells(run_dir)
    if unclean:
        raise Exit(f"{len(unclean)} cell(s) failed or were flagged ({', '.join(unclean)}): "
                   f"see {run_dir / 'report.md'}", code=SOME_CELLS_FAILED)


@task(help={"run": "the run: a folder, or a name under reports/ (e.g. 20261126-093000)"})
@exits()
def report(c, run):
    """Render reports/<run>/report.md again from results.jsonl and env.json."""
    print(reports.write(run_folder(run, c.config.bench.reports)))
