"""`inv test`: the system packages the tests need, installed as `inv setup` installs its own, then the suite."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from invoke import Exit, task

from bench.errors import BenchError
from bench.hosts import LocalHost
from bench.setup import packages

from . import exits

PROJECT = Path(__file__).resolve().parents[2]


def pytest_command(argv: list[str]) -> list[str]:
    """pytest, quiet with every skip's reason, and whatever came after ``--`` in ``argv``."""
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    return [sys.executable, "-m", "pytest", "-q", "-ra", *extra]


@task
@exits()
def test(c):
    """Install the packages the tests need (test.packages), then run the tests: `inv test -- ARGS` passes ARGS to pytest."""
    if not (PROJECT / "tests").is_dir():
        raise BenchError(f"no tests beside {PROJECT / 'bench'}: run `inv test` in a clone installed with "
                         f"`python3 -m pip install -e '.[test]'`")
    names = list(c.config.test.packages)
    lacking = packages.missing(LocalHost(), names)
    if lacking:
        packages.install_here(lacking, "the test suite", log=print)
        still = packages.missing(LocalHost(), lacking)
        if still:
            raise BenchError(f"apt-get reported success but {' '.join(still)} is still missing")
    done = subprocess.run(pytest_command(sys.argv), cwd=PROJECT, stdin=subprocess.DEVNULL)
    if done.returncode:
        raise Exit(code=done.returncode)
