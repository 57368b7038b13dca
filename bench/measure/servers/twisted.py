"""Twisted Web, the server under test: the shipped ``server.py``, run by the environments `inv setup` made.

Its variants are interpreter × mode × resource × Twisted version: each version it measures has
an environment of its own per interpreter (``venvs/<interpreter>-<version>``), so the paired
rounds of a case compare Twisted releases with each other and with the baseline. Without
``bench.twisted`` each interpreter runs the newest version set up for it.
"""
from __future__ import annotations

import json
import platform
import re
import shlex
import sys
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path

import twisted as harness_twisted

from bench import manifest
from bench.envfile import python_words
from bench.errors import BenchError
from bench.hosts import Host
from bench.records import Cell, CellRecord, Variant
from bench.standalone.events import read_events, worker_counts

from .. import verdicts
from ..cpus import format_cpus
from .core import payload_name
from .kind import Fact, Launch, Place

INTERPRETERS = manifest.INTERPRETERS
MODES = ("shared", "reuseport", "single")
RESOURCES = ("fixed", "file")
VERSION = re.compile(r"[0-9]{1,4}(\.[0-9]{1,4}){1,3}")
LISTENING = shlex.quote('^{"event":"listening"')  # its master is up: every worker serves
PYTHON_FACTS = (
    "import json, platform, sys, twisted; "
    "pypy = getattr(sys, 'pypy_version_info', None); "
    "print(json.dumps({'implementation': platform.python_implementation(), "
    "'version': platform.python_version(), "
    "'pypy': '.'.join(map(str, pypy[:3])) if pypy else None, "
    "'twisted': twisted.__version__}))"
)


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", str(version))[:4])


@dataclass
class Environments:
    """The Python environments with Twisted on the server host, and each interpreter's Python."""

    pythons: dict[tuple[str, str], str] = field(default_factory=dict)  # (interpreter, Twisted version) -> python
    python_versions: dict[str, str] = field(default_factory=dict)  # interpreter -> its Python, e.g. "3.9.16"

    def versions(self, interpreter: str) -> list[str]:
        """The Twisted versions set up for ``interpreter``, oldest first."""
        return sorted((v for i, v in self.pythons if i == interpreter), key=version_key)


def choose(values: tuple, allowed: tuple, name: str) -> tuple:
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise BenchError(f"unknown {name} {', '.join(map(str, unknown))}: choose from {', '.join(allowed)}")
    if not values:
        raise BenchError(f"no {name} chosen: choose from {', '.join(allowed)}")
    return values


def versions_for(interpreter: str, wanted: tuple, found: Environments, requires: dict) -> list[str]:
    """The Twisted versions measured on ``interpreter``: those wanted (all set up), else its newest; a version
    it cannot have is refused, naming the interpreter and its Python."""
    installed = found.versions(interpreter)
    for version in wanted:
        if version in installed:
            continue
        python, needs = found.python_versions.get(interpreter), requires.get(version)
        if python and needs and version_key(python) < version_key(needs):
            raise BenchError(f"Twisted {version} needs Python >= {needs}, and {interpreter} is Python {python}: "
                             f"drop {version} from --twisted (bench.twisted), or {interpreter} from --interpreters")
        raise BenchError(f"Twisted {version} is not set up for {interpreter} on the server host: "
                         f"run `inv setup --twisted {','.join(wanted)}`")
    return list(wanted) if wanted else installed[-1:]


class Twisted:
    """The kind: ``server.py`` in the environments of ``inv setup`` (this harness's own CPython stands in locally)."""

    name, display, setup = "twisted", "Twisted", INTERPRETERS

    def find(self, host: Host, options, say) -> Environments:
        found = Environments(pythons=manifest.environments(host, options.prefix))
        tools = manifest.read_manifest(host, options.prefix).get("tools") or {}
        found.python_versions = {name: str(tools[name]["python"]) for name in INTERPRETERS
                                 if isinstance(tools.get(name), dict) and tools[name].get("python")}
        if host.is_local and not found.versions("cpython"):
            found.pythons[("cpython", harness_twisted.__version__)] = sys.executable
            found.python_versions["cpython"] = platform.python_version()
        for name in options.interpreters:
            if not found.versions(name):
                say(f"note: no {name} environment on {host}: its Twisted cells are skipped (run `inv setup`)")
        return found

    def variants(self, options, found: Environments) -> list[Variant]:
        interpreters = choose(options.interpreters, INTERPRETERS, "interpreter")
        modes = choose(options.modes, MODES, "mode")
        resources = choose(options.resources, RESOURCES, "resource")
        wanted = tuple(options.twisted or ())  # none: the newest set up for each interpreter
        for version in wanted:
            if not VERSION.fullmatch(version):
                raise BenchError(f"Twisted version {version!r} is no version: give numbers and dots, e.g. 26.4.0")
        return [Variant(interpreter=interpreter, mode=mode, resource=resource, twisted=version)
                for interpreter in interpreters if found.versions(interpreter)
                for version in versions_for(interpreter, wanted, found, options.twisted_python)
                for mode, resource in product(modes, resources)]

    def workers(self, variant: Variant, workers: int) -> int:
        return 1 if variant["mode"] == "single" else workers

    def launch(self, cell: Cell, place: Place, found: Environments | None) -> Launch:
        variant = cell.variant
        python = (found or Environments()).pythons.get((variant["interpreter"], variant.get("twisted")))
        if not python:
            raise BenchError(f"no {variant['interpreter']} environment with Twisted {variant.get('twisted')} "
                             f"on the server host: run `inv setup`")
        argv = [python, f"{place.workdir}/server.py", "--port", str(place.port), "--interface", place.interface,
                "--backlog", str(place.backlog), "--mode", variant["mode"], "--workers", str(cell.workers),
                "--resource", variant["resource"], "--payload", str(cell.payload),
                "--file", f"{place.www}/{payload_name(cell.payload)}"]
        if place.access_log:
            argv.append("--log")
        if place.cpus:
            argv += ["--cpus", format_cpus(place.cpus)]
        return Launch(argv=argv, ready=f"grep -q {LISTENING} {shlex.quote(place.log)}",
                      waiting_for="no listening event", command=shlex.join(argv), log=place.log)

    def collected(self, cell: Cell, log: Path | None, record: CellRecord) -> None:
        """Its requests per worker, and the workers that died, from its event lines."""
        if log is None:
            return
        events = read_events(log.read_text())
        record.workers = {str(k): v for k, v in worker_counts(events).items()}
        record.spread = verdicts.spread(record.workers)
        deaths = [e for e in events if e.get("event") == "worker-died"]
        if deaths:
            record.flag(f"{len(deaths)} worker(s) died: "
                        + ", ".join(f"pid {e.get('pid')} status {e.get('status')}" for e in deaths))

    def facts(self, found: Environments, variants: list[Variant]) -> dict[str, Fact]:
        """Each environment its variants run in, as the interpreter itself says it."""
        used = {(variant["interpreter"], variant["twisted"]) for variant in variants}
        return {f"Twisted {version} on {interpreter}": Fact(f"{shlex.quote(python)} -c {shlex.quote(PYTHON_FACTS)}",
                                                            _python_said)
                for (interpreter, version), python in sorted(found.pythons.items()) if (interpreter, version) in used}


def _python_said(output: str) -> str:
    try:
        said = json.loads(output)
    except ValueError:
        said = None
    return python_words(said if isinstance(said, dict) else {"error": "does not start or lacks Twisted"})


KIND = Twisted()
