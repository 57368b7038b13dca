"""What a load generator is to the lab, and the registry that finds one by name.

A load generator is one module, ``bench/measure/loadgens/<name>.py``, whose ``GENERATOR``
is a :class:`LoadGenerator` subclass, plus its name in ``setup.loadgens`` (invoke.yaml) and
its pin under ``setup.<name>``. The class declares what the rest of the lab reads: its
capabilities (:class:`Capabilities`), how `inv setup` provides it (``setup``), how it says
its version, and, per output format, its command builder and parser. A program with several
output formats (weighttp 0.4 and 0.5) is one class per format, its ``installed`` choosing
between them by the version found.

The order of ``setup.loadgens`` is the order of preference when ``--loadgen`` is not given.
"""
from __future__ import annotations

import math
import re
import shlex
from abc import ABC, abstractmethod
from dataclasses import dataclass, fields

from bench.errors import BenchError
from bench.hosts import Host
from bench.plugins import module_named
from bench.records import Load, LoadResult

PACKAGE = __name__.rpartition(".")[0]
SETUPS = ("package", "build")  # a distribution package; a pinned tarball built by `inv setup`


@dataclass(frozen=True)
class Capabilities:
    """What a load generator can be asked for."""

    requests: bool = False  # ends a run after a request count
    duration: bool = False  # ends a run after a time
    latency: bool = False  # gives latency percentiles
    pipelining: bool = False  # several requests in flight on one connection
    fixed_rate: bool = False  # sends at a set rate rather than as fast as answers come
    closed_loop: bool = True  # can send as fast as answers come, as the rounds need (wrk2 cannot)

    def __or__(self, other: Capabilities) -> Capabilities:
        return Capabilities(**{f.name: getattr(self, f.name) or getattr(other, f.name) for f in fields(self)})


class LoadGenerator(ABC):
    """One output format of one load-generating program: its command line for a load, and its parser."""

    name: str  # what results call it: "weighttp-0.5", "wrk", "h2load"
    program: str  # its registry name, the binary looked for, and --loadgen's word
    title: str  # how its errors name it: "weighttp 0.4"
    capabilities: Capabilities
    setup: str  # one of SETUPS
    version_args: tuple[str, ...] = ("--version",)  # asked, in turn, to say what it is
    said: str = r"^(\S+) (\S*\d\S*)"  # what its version reads like: (program, version)

    def command(self, load: Load, binary: str) -> list[str]:
        """The argv that makes ``load`` with the tool at ``binary``; a BenchError for a load it cannot make."""
        problem = self.refusal(load)
        if problem:
            raise BenchError(problem)
        return self.argv(load, binary)

    def refusal(self, load: Load) -> str | None:
        """Why this generator cannot make ``load``, in one line; None when it can."""
        if load.threads < 1 or load.concurrency < load.threads:
            return (f"concurrency {load.concurrency} with {load.threads} threads: "
                    "give at least one thread and at least as many connections as threads")
        if load.requests is None and load.duration is None:
            return "the load has neither requests nor a duration: give one of them in the profile"
        can = self.capabilities
        if load.requests is None and not can.duration:
            return (f"{self.title} cannot stop after a duration: give the load requests (e.g. the `seed` profile), "
                    f"or another --loadgen")
        if load.duration is None and not can.requests:
            return (f"{self.title} runs for a duration, not a request count: give the load a duration (seconds), "
                    f"or another --loadgen")
        if load.pipeline > 1 and not can.pipelining:
            return f"{self.title} cannot pipeline requests: choose a --loadgen that can, or no --pipeline"
        if load.pipeline > 1 and not load.keepalive:
            return f"--pipeline {load.pipeline} needs keep-alive (a connection that closes carries one request)"
        if load.requests is not None and can.requests and load.requests < load.concurrency:
            return (f"{load.requests} requests for {load.concurrency} connections: "
                    f"{self.program} needs requests >= concurrency")
        return None

    @abstractmethod
    def argv(self, load: Load, binary: str) -> list[str]:
        """The command line for a load it can make."""

    @abstractmethod
    def parse(self, stdout: str, command: str) -> LoadResult:
        """What the run said, from its output (standard output, then standard error)."""

    def ran_out(self, load: Load, result: LoadResult) -> bool:
        """Whether a run that was to last a time ended early on a request count it sized itself."""
        return False

    @classmethod
    def formats(cls) -> tuple[LoadGenerator, ...]:
        """Every output format of the program, newest first."""
        return (cls(),)

    @classmethod
    def version(cls, host: Host, binary: str) -> str:
        """What the tool at ``binary`` says it is, e.g. "wrk debian/4.1.0-3+b2", for the report."""
        quoted = shlex.quote(binary)
        said = host.run("; ".join(f"{quoted} {arg} 2>&1" for arg in cls.version_args), warn=True, timeout=30).stdout
        found = cls.read_version(said)
        if found:
            return found
        raise BenchError(f"cannot tell which load generator {binary} on {host} is: {tail(said, 2)}; "
                         f"reinstall it with `inv setup --only {cls.program}`")

    @classmethod
    def read_version(cls, said: str) -> str | None:
        """The program and version in what its version options printed, e.g. "wrk debian/4.1.0-3+b2"."""
        named = re.search(cls.said, said, re.MULTILINE)
        return f"{named.group(1)} {named.group(2)}" if named else None

    @classmethod
    def installed(cls, host: Host, binary: str) -> LoadGenerator:
        """The format that parses the tool installed at ``binary``."""
        return cls.formats()[0]


# -- what every generator shares ---------------------------------------------------

def whole_seconds(duration: float) -> int:
    """Round a duration up to whole seconds, so a run is never cut short.

    wrk's -d rejects fractions ("0.5s" only prints its usage). For weighttp 0.5's -a the
    upstream source readable here predates the option, so fractions are not relied on.
    """
    return max(1, math.ceil(duration))


def flag_value(command: str, *flags: str) -> str | None:
    """The value after the first of ``flags`` in a recorded command line, or None when it has none."""
    words = shlex.split(command)
    return next((value for flag, value in zip(words, words[1:]) if flag in flags), None)


def sized_requests(load: Load, seconds: float, *, per_second: float, floor: int, ceiling: int, unsized: int) -> int:
    """A request count for a load that is to last ``seconds``: ``per_second`` times the expected rate times
    its seconds, within ``floor`` and ``ceiling`` (and never fewer than its connections); ``unsized`` before
    any rate is known."""
    if load.rate is None:
        return max(unsized, load.concurrency)
    planned = math.ceil(load.rate * seconds * per_second)
    return max(min(planned, ceiling), floor, load.concurrency)


def tail(output: str, lines: int = 5) -> str:
    text = " | ".join(line.strip() for line in output.strip().splitlines()[-lines:] if line.strip())
    return text or "no output"


def unparseable(tool: str, output: str) -> BenchError:
    return BenchError(f"{tool} printed no result; check the URL and the tool: {tail(output)}")


# -- the registry ------------------------------------------------------------------

def load_generator(name: str) -> type[LoadGenerator]:
    """The generator named ``name`` in setup.loadgens: the ``GENERATOR`` of ``bench/measure/loadgens/<name>.py``."""
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", name):
        raise BenchError(f"setup.loadgens names {name!r}, not a load generator's name: "
                         f"give the name of a module in bench/measure/loadgens/ (lower case)")
    module = module_named(PACKAGE, name)
    if module is None:
        raise BenchError(f"setup.loadgens names {name}, but there is no bench/measure/loadgens/{name}.py: "
                         f"add that module or drop {name} from setup.loadgens")
    generator = getattr(module, "GENERATOR", None)
    if not (isinstance(generator, type) and issubclass(generator, LoadGenerator) and generator.program == name):
        raise BenchError(f"bench/measure/loadgens/{name}.py has no GENERATOR: a LoadGenerator whose program is {name!r}")
    if generator.setup not in SETUPS:
        raise BenchError(f"load generator {name} says setup {generator.setup!r}: one of {', '.join(SETUPS)}")
    return generator


def registry(names) -> dict[str, type[LoadGenerator]]:
    """setup.loadgens read: name -> its generator, in order of preference."""
    if isinstance(names, str) or not names:
        raise BenchError(f"setup.loadgens is {names!r}: list the load generators, e.g. [weighttp, wrk, h2load]")
    return {name: load_generator(name) for name in names}


def capabilities(generator: type[LoadGenerator]) -> Capabilities:
    """What any format of ``generator`` can do (weighttp: what 0.5 or 0.4 can)."""
    first, *others = generator.formats()
    found = first.capabilities
    for form in others:
        found |= form.capabilities
    return found


# -- which one a load host has ------------------------------------------------------

def find(host: Host, program: str, search_dirs: list[str]) -> str | None:
    """``program``'s path on ``host``: in ``search_dirs`` first (e.g. the tools prefix's bin), then on PATH."""
    candidates = " ".join(shlex.quote(f"{host.expand(d).rstrip('/')}/{program}") for d in search_dirs)
    look = f'for p in {candidates}; do if [ -x "$p" ]; then echo "$p"; exit 0; fi; done; ' if candidates else ""
    found = host.run(f"{look}command -v {shlex.quote(program)}", warn=True).stdout.strip()
    return found.splitlines()[0] if found else None


def detect(host: Host, prefer: str | None, names, search_dirs: list[str]) -> tuple[LoadGenerator, str]:
    """Find a load generator on ``host``: ``(generator, binary_path)``.

    The first of ``names`` (setup.loadgens, in order of preference) that is installed, or
    ``prefer`` (--loadgen) alone. The version found picks the format (weighttp 0.5 or 0.4). A
    generator that only sends at a fixed rate (wrk2, for --latency's sweep) is never picked for
    the rounds unless named.
    """
    known = registry(names)
    if prefer is not None and prefer not in known:
        raise BenchError(f"unknown load generator {prefer!r}: choose from {', '.join(known)} (setup.loadgens)")
    closed_loop = {name: generator for name, generator in known.items() if capabilities(generator).closed_loop}
    for program in [prefer] if prefer else closed_loop:
        binary = find(host, program, search_dirs)
        if binary:
            return known[program].installed(host, binary), binary
    if prefer:
        where = ", ".join(search_dirs + ["PATH"])
        raise BenchError(f"{prefer} not found on {host} (looked in {where}): run `inv setup --only {prefer}`")
    raise BenchError(f"no load generator found on {host} (looked for {', '.join(closed_loop)}): run `inv setup`, "
                     f"which installs them")
