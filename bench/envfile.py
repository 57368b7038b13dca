"""A run's env.json, read once and checked: every field the report, compare and resume read has its type.

:func:`read_env` returns the file's object only once each field below has the shape it must
have, so the views read it with plain ``.get()`` and indexing; anything else is one line naming
the file and the field. Fields not listed here are kept as they are (compare lists them).
An env.json of an older format is read as the current one: each host's server facts by kind,
and the baseline its run compared with (:func:`roles`).
"""
from __future__ import annotations

from dataclasses import dataclass
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
    "servers": ((Keyed((Keyed(MAYBE_TEXT),)),), False),  # kind -> its facts: row -> words
}
ENV = {
    "run": (TEXT, False), "started": (TEXT, False), "command": (TEXT, False), "git": (MAYBE_TEXT, False),
    "options": ((dict,), False), "hosts": ((Each((HOST,)),), False), "kinds": ((Keyed(TEXT),), False),
    "settings": (({"cpus": (({"server": (SCALAR, False), "load": (SCALAR, False)},), False),
                   "baseline": (TEXT, False)},), False),
}
# What runs compared every cell with before env.json named it (format 3 and older): Nginx.
DEFAULT_BASELINE = "nginx"


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
    return env if env.get("format", 1) >= 4 else _current(env)


def _current(env: dict) -> dict:
    """An env.json of format 3 or older as the current format says it: each host's Nginx version and Twisted
    environments as their kinds' facts, and the baseline it had (Nginx)."""
    for host in env.get("hosts", []):
        servers = {}
        if host.get("nginx"):
            servers["nginx"] = {"nginx": host["nginx"]}
        pythons = {(f"Twisted {python['twisted']} on {name}" if python.get("twisted") else f"Twisted on {name}"):
                   python_words(python) for name, python in (host.get("pythons") or {}).items()}
        if pythons:
            servers["twisted"] = pythons
        host.pop("nginx", None)
        host.pop("pythons", None)
        host["servers"] = servers
    if isinstance(env.get("settings"), dict):
        env["settings"].setdefault("baseline", DEFAULT_BASELINE)
    return env


def python_words(python: dict) -> str:
    """A Twisted environment in words: 'Twisted 26.4.0 on PyPy 7.3.11 (Python 3.9.16)', or why it has none."""
    if "error" in python:
        return python["error"]
    base = f"{python.get('implementation', '?')} {python.get('version', '?')}"
    if python.get("pypy"):
        base = f"PyPy {python['pypy']} (Python {python.get('version', '?')})"
    return f"Twisted {python.get('twisted', '?')} on {base}"


@dataclass(frozen=True)
class Roles:
    """Which server kind a run compared every cell with, and what the report calls each kind."""

    baseline: str
    names: dict

    def display(self, kind: str) -> str:
        """'Nginx' for nginx: as the run's env.json names it, else the kind's name capitalized."""
        return self.names.get(kind) or kind.capitalize()

    @property
    def shown(self) -> str:
        return self.display(self.baseline)


def roles(env: dict) -> Roles:
    """The baseline and the kinds' names a run recorded; Nginx for a run from before there was a choice."""
    return Roles(baseline=(env.get("settings") or {}).get("baseline") or DEFAULT_BASELINE, names=env.get("kinds") or {})
