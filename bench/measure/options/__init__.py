"""`inv bench`'s options: declared once in :mod:`.table`, parsed and checked by :mod:`.values`, resolved
(flags, else invoke.yaml; or a resumed run's env.json) by :mod:`.resolved`, and turned into the task's
parameters by :mod:`.signature`."""
from .resolved import (
    LOAD_FLAGS,
    Options,
    check_ports,
    checked,
    overridden,
    resolve,
    resume_conflicts,
    run_flags,
    settings,
    stored,
)
from .signature import help_of, repeated, signature, taking_flags
from .table import FIELDS, FLAGS, LABELS, OPTIONS, RESUMABLE, STATISTICS, Option, Shown
from .values import configured

__all__ = ["FIELDS", "FLAGS", "LABELS", "LOAD_FLAGS", "OPTIONS", "RESUMABLE", "STATISTICS", "Option", "Options",
           "Shown", "check_ports", "checked", "configured", "help_of", "overridden", "repeated", "resolve",
           "resume_conflicts", "run_flags", "settings", "signature", "stored", "taking_flags"]
