"""The lab's Invoke tasks: `inv --list` shows them; logic lives in bench/."""
from invoke import Collection

from bench.tasks import compare, lab, run, setup, testing, tune

ns = Collection(run.bench, run.report, compare.compare, setup.setup, tune.tune, lab, testing.test)
