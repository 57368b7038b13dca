"""`inv bench`'s options: declared once in :mod:`.table`, parsed and checked by :mod:`.values`, resolved
(flags, else invoke.yaml; or a resumed run's env.json) by :mod:`.resolved`, and turned into the task's
parameters by :mod:`.signature`."""
from .resolved import Options, check_ports, resolve, resume_conflicts, run_flags, settings, stored
from .signature import help_of, repeated, signature, taking_flags
from .table import FIELDS, LABELS, OPTIONS, Option, Shown

__all__ = ["FIELDS", "LABELS", "OPTIONS", "Option", "Options", "Shown", "check_ports", "help_of", "repeated",
           "resolve", "resume_conflicts", "run_flags", "settings", "signature", "stored", "taking_flags"]
