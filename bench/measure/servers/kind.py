"""What a server kind is (Nginx, Twisted, ...), and where each is found: one module per kind.

A kind is a module of this package named after it (``nginx.py``, ``twisted.py``) whose ``KIND``
answers :class:`ServerKind`; ``bench.servers`` in invoke.yaml names the kinds a run measures, and
``bench.baseline`` the one every cell is compared with. A new kind (uvicorn, Go's net/http) is
one more module here and its name in invoke.yaml: the matrix, the runner, env.json and the
report take everything else from it.
"""
from __future__ import annotations

import pkgutil
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from bench.errors import BenchError
from bench.hosts import Host
from bench.hosts.scripts import TERM
from bench.plugins import module_named
from bench.records import Cell, CellRecord, Variant

# The exit status of a launch's check when the kind refuses its own config (nginx -t).
REJECTED = 3
# Modules of this package that are no kind.
MACHINERY = ("core", "kind")
NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")


@dataclass(frozen=True)
class Place:
    """Where one cell's server runs on the server host, and what every kind is given to run it there."""

    workdir: str  # the run's work folder
    folder: str  # this cell's own folder in it (configs, logs of its own)
    log: str  # where its output goes unless its launch says otherwise
    www: str  # the payload files, world-readable: payload-<bytes>.html
    port: int
    interface: str
    backlog: int
    access_log: bool  # log every request (off by default, as the seed's --silence)
    cpus: tuple[int, ...] = ()  # each worker pinned to one of these


@dataclass
class Launch:
    """How the server host starts, checks and stops a cell's server, and which of its files come home."""

    argv: list[str]
    ready: str  # a shell test that holds once it serves
    waiting_for: str  # what is missing until then, named when it never comes
    command: str  # its command line, as the report shows it
    log: str  # its log there: a failure quotes its tail, and it comes home
    output: str | None = None  # where its stdout and stderr go; None: its log
    files: dict[str, str] = field(default_factory=dict)  # path -> text, written before it starts (a config)
    check: str = ""  # shell lines run before it starts; they exit REJECTED when it refuses its config
    stop: tuple[tuple[str, float], ...] = ((TERM, 10.0),)  # each graceful step, then how long to wait
    collect: dict[str, str] = field(default_factory=dict)  # more files to bring home: path there -> name here
    config: str | None = None  # the name here of its config, which the report links to


@dataclass(frozen=True)
class Fact:
    """One line of a kind's environment facts: a shell command on the server host, and its words."""

    command: str
    words: Callable[[str], str | None]  # its output -> what env.json and the report show


class ServerKind(Protocol):
    """A server the lab can measure beside the others."""

    name: str  # as invoke.yaml and the cells name it: 'nginx'
    display: str  # as the report names it: 'Nginx'
    setup: tuple[str, ...]  # the `inv setup` steps it needs (bench/setup/tools.py STEPS)

    def find(self, host: Host, options, say: Callable[[str], None]) -> object:
        """What it runs with on the server host (a binary, environments); BenchError when it cannot run there."""

    def variants(self, options, found) -> list[Variant]:
        """Its variants in the matrix (pure); none when nothing found can run; BenchError for a choice it refuses."""

    def workers(self, variant: Variant, workers: int) -> int:
        """The workers a variant runs with when the case has ``workers``."""

    def launch(self, cell: Cell, place: Place, found) -> Launch:
        """How to start the cell's server at ``place``; BenchError when it cannot (the cell fails)."""

    def collected(self, cell: Cell, log: Path | None, record: CellRecord) -> None:
        """Read what its log says (per-worker counts, a worker that died) into the record, once it is home."""

    def facts(self, found, variants: list[Variant]) -> dict[str, Fact]:
        """The versions its variants run on the server host, for env.json and the report: row -> fact."""


def available() -> list[str]:
    """The kinds this harness has: the modules of this package."""
    return sorted(module.name for module in pkgutil.iter_modules([str(Path(__file__).parent)])
                  if module.name not in MACHINERY)


def kind(name: str, where: str = "") -> ServerKind:
    """The kind named ``name`` (by ``where``: "--servers"): ``KIND`` of the module of this package of that name."""
    unknown = f"unknown server kind {name!r}{f' ({where})' if where else ''}: choose from {', '.join(available())}"
    if not isinstance(name, str) or not NAME.fullmatch(name) or name in MACHINERY:
        raise BenchError(unknown)
    module = module_named(__package__, name)
    if module is None:
        raise BenchError(f"{unknown} (a kind is a module of bench/measure/servers/)")
    found = getattr(module, "KIND", None)
    if found is None or found.name != name:
        raise BenchError(f"bench/measure/servers/{name}.py defines no KIND named {name!r}")
    return found


def kinds(names) -> list[ServerKind]:
    """The kinds named, in order; a one-line error for one unknown or none at all."""
    if not names:
        raise BenchError(f"no server chosen: choose from {', '.join(available())}")
    return [kind(name) for name in dict.fromkeys(names)]


def setup_steps(names=None) -> tuple[str, ...]:
    """The `inv setup` steps the kinds named need (every kind's, without names), in order."""
    return tuple(dict.fromkeys(step for server in kinds(names or available()) for step in server.setup))
