"""`inv coverage`: how often the report's interval covers the true ratio, in simulated runs."""
from __future__ import annotations

from invoke import task

from bench.errors import BenchError
from bench.measure import coverage as simulation
from bench.measure.options import resolve
from bench.measure.stopping import Rule

from . import exits


@task(help={
    "cases": "simulated cases per noise level and cap (default 1000)",
    "seed": "the simulation's seed (default 1): the same seed prints the same table",
    "profile": "load profile whose statistics to use, as `inv bench --profile` (default: bench.profile)",
})
@exits()
def coverage(c, cases=1000, seed=1, profile=None):
    """Print how often the report's interval covers the true ratio in simulated runs, stopping rule included."""
    if int(cases) < 1:
        raise BenchError(f"--cases {cases} is too few: give 1 or more (1000 tells coverage to about ±1 %)")
    options = resolve(c.config, {"profile": profile})
    rule = Rule.of(options.repeats, options.statistics, options.baseline)
    print(simulation.table(simulation.simulate_all(rule, cases=int(cases), seed=int(seed)), rule))
