"""A run's env.json, read once and checked: every field the report, compare and resume read has its type.

:func:`read_env` returns the file's object only once each field below has the shape it must
have, so the views read it with plain ``.get()`` and indexing; anything else is one line naming
the file and the field. Fields not listed here are kept as they are (compare lists them).
"""
from __future__ import annotations

from pathlib import Path

from bench.errors import BenchError
from bench.jsonfile import Each, Keyed, Range, conforms, loads, read_text
from bench.records import check_format

NONE = type(None)
TEXT, MAYBE_TEXT = (str,), (str, NONE)
SCALAR = (str, int, float, bool, NONE)  # shown as it is
SOURCE = {"kind": (TEXT, False), "file": (TEXT, False), "sha256": (TEXT, False), "package": (TEXT, False),
          "version": (MAYBE_TEXT, False), "instead": (MAYBE_TEXT, False), "path": (TEXT, False),
          "reason": (TEXT, False), "fetch": (({"file": (TEXT, False)},), False)}
PYTHON = {"path": (TEXT, False), "implementation": (TEXT, False), "version": (TEXT, False),
          "pypy": (MAYBE_TEXT, False), "twisted": (TEXT, False), "error": (TEXT, False)}
LOADGEN = {"tool": (TEXT, False), "path": (MAYBE_TEXT, False), "version": (MAYBE_TEXT, False),
           "replaced": (MAYBE_TEXT, False), "preferred": (MAYBE_TEXT, False), "source": ((SOURCE,), False)}
TUNING_ROW = {"current": (SCALAR, False), "profile": (SCALAR, False), "tuned": ((bool, NONE), False),
              "state": (MAYBE_TEXT, False)}
TUNING = {"profile": (TEXT, False), "settings": ((Keyed((TUNING_ROW,)),), False)}
TOOL = {"version": (MAYBE_TEXT, False), "source": ((SOURCE,), False), "version_output": (MAYBE_TEXT, False)}
HOST = {
    "role": (TEXT, True), "name": (TEXT, True), "cpu_model": (TEXT, False), "cpus": ((Range((int,), 0),), False),
    "memory_kb": ((Range((int, float), 0),), False), "os": (TEXT, False), "kernel": (TEXT, False),
    "governor": (TEXT, False), "hostname": (TEXT, False), "kernel_cmdline": (TEXT, False),
    "nofile": (({"soft": (SCALAR, False), "hard": (SCALAR, False)},), False),
    "sysctl": ((Keyed(MAYBE_TEXT),), False), "pythons": ((Keyed((PYTHON,)),), False),
    "nginx": (MAYBE_TEXT, False), "loadgen": ((LOADGEN, NONE), False), "tuning": ((TUNING, NONE), False),
    "manifest": (({"tools": ((Keyed((TOOL,)),), False)},), False), "machine": ((Keyed(TEXT),), False),
}
ENV = {
    "run": (TEXT, False), "started": (TEXT, False), "command": (TEXT, False), "git": (MAYBE_TEXT, False),
    "options": ((dict,), False), "hosts": ((Each((HOST,)),), False),
    "settings": (({"cpus": (({"server": (SCALAR, False), "load": (SCALAR, False)},), False)},), False),
}


def read_env(path: str | Path) -> dict:
    """A run's env.json, checked; {} when there is none."""
    path = Path(path)
    if not path.exists():
        return {}
    again = "restore it, or move it away to render without the run's environment"
    try:
        env = loads(read_text(path, "the run's env.json"))
    except ValueError as exc:
        raise BenchError(f"{path} {exc}: {again}") from None
    if not isinstance(env, dict):
        raise BenchError(f"{path} holds a JSON {type(env).__name__}, not an object: {again}")
    check_format(env, str(path))
    try:
        conforms(env, (ENV,), "env")
    except ValueError as exc:
        raise BenchError(f"{path}: {exc}: {again}") from None
    return env
