"""Thin Invoke tasks, one module per area: they resolve options and call bench/."""
from __future__ import annotations

import functools
from pathlib import Path

from invoke import Exit

from bench.errors import BenchError
from bench.measure.names import check_run_name
from bench.terminal import printable


def run_folder(run: str, reports: str) -> Path:
    """A run folder given as a path (it holds a ``/``, or is ``.`` or ``..``), else by its name under the reports folder.

    What the current folder happens to hold never turns a name into a path.
    """
    if "/" in run or run in (".", ".."):
        return Path(run)
    return Path(reports) / check_run_name(run)


def exits(interrupted: str = "interrupted"):
    """The one way a task ends on a user's error: a BenchError is one line and exit 1; Ctrl-C is exit 130."""
    def decorate(body):
        @functools.wraps(body)
        def task_body(c, *args, **kwargs):
            try:
                return body(c, *args, **kwargs)
            except BenchError as exc:
                raise Exit(f"error: {printable(str(exc))}", code=1) from None
            except KeyboardInterrupt:
                raise Exit(interrupted, code=130) from None
        return task_body
    return decorate
