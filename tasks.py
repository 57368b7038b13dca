"""The lab's Invoke tasks: `inv --list` shows them; logic lives in bench/."""
from invoke import Collection

from bench.tasks import lab, run, setup, tune

ns = Collection(run.bench, run.report, setup.setup, tune.tune, lab)
