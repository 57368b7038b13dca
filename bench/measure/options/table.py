"""Every `inv bench` option, declared once: its kind and bounds, its key in invoke.yaml, its flag and
help, whether --resume must find it unchanged, and how env.json's settings and the report show it.

The task's signature and help, the checks, the ``Options`` dataclass, env.json's settings, the
resume check and the report's Settings labels are all read from :data:`OPTIONS`; adding an entry
adds the option everywhere. invoke.yaml holds every default.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from bench.envfile import DEFAULT_BASELINE
from bench.errors import BenchError
from bench.jsonfile import Each, Range
from bench.standalone.payload import MAX_PAYLOAD

from .. import cpus, servers
from ..loadgens import load_generator, registry
from ..names import check_address, check_run_name
from ..servers import twisted
from .values import Choice, CpuList, Kind, Many, Maybe, Pins, Seconds, Shape, Switch, Text, Whole, configured


@dataclass(frozen=True)
class Shown:
    """An option's place in env.json's ``settings`` (``cpus.server``: the key ``server`` of ``cpus``) and its
    label in the report's Settings; ``value`` turns the option's value into what env.json keeps."""

    key: str
    label: str
    value: Callable | None = None


@dataclass(frozen=True)
class Option:
    """One option of `inv bench`."""

    name: str  # its name in Options and in env.json's options
    kind: Kind  # what its value may be
    help: str = ""  # the flag's help; "" for an option that is no flag
    config: str | None = None  # its key in invoke.yaml, e.g. "bench.port"; None: only a flag gives it
    resumable: bool = False  # --resume refuses to go on with a different value
    flag: str = ""  # the flag's name when it is not the option's ("log" for server_log)
    switch: object = None  # an on/off flag of an option that holds more (--keepalive): the value it gives
    sets: str = ""  # the option this flag gives its switch value to, when not its own (--close: keepalive)
    repeat: bool = False  # the flag may be given several times (--load-host)
    field: bool = True  # an Options field; False: it only shapes another option (--concurrency) or the task
    task: bool = False  # the task's own (SSH, --resume), not part of the run's options
    shown: Shown | None = None  # how env.json's settings and the report show it
    before: Callable | None = None  # the value a run stored before the option existed had, from its options

    @property
    def flag_name(self) -> str:
        return self.flag or self.name

    @property
    def takes(self) -> str:
        """The option whose value this one gives."""
        return self.sets or self.name

    @property
    def help_text(self) -> str:
        return self.help + (f" (invoke.yaml: {self.config})" if self.config else "")


# Bounds: a client address has 65535 ports, so no more connections to one server than that; a timed
# run of an hour is far past what a cell needs; a count past a billion is a typo; rounds of a second or
# more each; workers for the biggest machines (a worker per hardware thread).
MAX_CONCURRENCY = 65535
MAX_DURATION = 3600
MAX_REQUESTS = 10**9
MAX_REPEATS = 100
MAX_WORKERS = 1024
MAX_PORT = 65535
MAX_BACKLOG = 2**31 - 1  # listen()'s int
MAX_START = 600  # seconds for a server to answer: past that, something is wrong
MAX_PIPELINE = 1024  # requests in flight on one connection
ORDERS = ("paired", "sequential")
# bench.statistics (a profile may override it): key -> what it must be. A key the runner gains slots in
# here, and the campaign hands every one of them to the runner.
STATISTICS = {
    "max_repeats": (Range((int,), 1, 10 * MAX_REPEATS),),  # rounds at most
    "ci_target": (Range((int, float), 0, 1),),  # the interval's half-width, as a share of its median
    "max_seconds": (Range((int, float), 0, 24 * 3600),),  # a case's rounds, at most
    "cv_threshold": (Range((int, float), 0, 10),),  # more spread than this is noisy
    "min_rounds": (Range((int,), 1, 10 * MAX_REPEATS),),  # the target may end a case from this round on
}
# A half's load (bench.load gives what a profile's half leaves out) and the warm-up's rule (bench.warmup).
HALF = {"concurrency": (Range((int,), 1, MAX_CONCURRENCY),), "threads": (Range((int,), 1, MAX_CONCURRENCY),)}
LOAD = {**HALF, "requests": (Range((int,), 1, MAX_REQUESTS), type(None)),
        "duration": (Range((int, float), 0, MAX_DURATION), type(None))}
RULE = {"tolerance": (Range((int, float), 0, 1),), "max_rounds": (Range((int,), 1, MAX_REPEATS),),
        "max_seconds": (Range((int, float), 0, MAX_DURATION),)}
WARMUP = {**LOAD, **RULE}
# bench.latency, --latency's sweep (bench.measure.sweep): its grid of shares, step, wrk2's connections and threads, and
# the knee's rule (bench.knee).
KNEE = {"achieved": (Range((int, float), 0, 1),), "p99_factor": (Range((int, float), 1),),
        "p99_ms": (Range((int, float), 0), type(None))}
SWEEP = {"grid": (Each((Range((int, float), 0, 10),)),), "step": (Range((int,), 1, MAX_DURATION),),
         "connections": (Range((int,), 1, MAX_CONCURRENCY),), "threads": (Range((int,), 1, MAX_CONCURRENCY),),
         "refine": (Range((int,), 0, 10),)}


def fields(shapes: dict, required=()) -> dict:
    """A conforms() object of ``shapes``, the keys in ``required`` required."""
    return {key: (shape, key in required) for key, shape in shapes.items()}


def profile_shape(complete: bool) -> dict:
    """A load profile as invoke.yaml gives it, or ``complete``: as a run keeps it, every half whole."""
    return {"keepalive": ((fields(LOAD, HALF if complete else ()), type(None)), False),
            "close": ((fields(LOAD, HALF if complete else ()), type(None)), False),
            "warmup": ((fields(WARMUP, RULE if complete else ()), type(None)), False),
            "statistics": ((fields(STATISTICS), type(None)), False)}


def loadgens(config) -> tuple[str, ...]:
    """The load generators --loadgen may name: setup.loadgens, each one a module of bench/measure/loadgens."""
    return tuple(registry(configured(config, "setup.loadgens")))


def profiles(config) -> tuple[str, ...]:
    """The load profiles of invoke.yaml."""
    return tuple(configured(config, "bench.profiles"))


def known_kind(value: str, where: str) -> None:
    """A server kind the registry finds: a module of bench/measure/servers/."""
    servers.kind(value, where)


def pinned_twisted(config) -> tuple[str, ...]:
    """The Twisted versions `inv setup` can install: those pinned in setup.twisted."""
    return tuple(Pins().parse(configured(config, "setup.twisted"), "invoke.yaml's setup.twisted"))


def check_version(value: str, where: str) -> None:
    if not re.fullmatch(r"[0-9]+(\.[0-9]+){1,3}((a|b|rc)[0-9]+)?", value):
        raise BenchError(f"{where} names {value!r}, which is not a Twisted version: give versions like 24.3.0,26.4.0")


def pinned(value) -> str:
    return cpus.format_cpus(value) or "not pinned"


def older(value) -> Callable[[dict], object]:
    """What every run stored before an option existed had (whatever its other options)."""
    return lambda stored: value


OPTIONS = (
    Option("servers", Many(Text(known_kind)), "server kinds to measure, comma-separated: nginx,twisted (each a "
           "module of bench/measure/servers/)",
           config="bench.servers", resumable=True),
    Option("interpreters", Many(Choice(twisted.INTERPRETERS, "interpreter")), "interpreters for Twisted: pypy,cpython",
           config="bench.interpreters", resumable=True),
    Option("twisted", Maybe(Many(Text(check_version))), "Twisted versions to measure, e.g. 24.3.0,26.4.0, each pinned "
           "in setup.twisted (null: the newest each interpreter can install)", config="bench.twisted", resumable=True,
           before=older(None)),
    Option("twisted_python", Pins(), config="setup.twisted", before=older({})),  # version -> the oldest Python it needs
    Option("modes", Many(Choice(twisted.MODES, "mode")), "Twisted worker modes: shared,reuseport,single",
           config="bench.modes", resumable=True),
    Option("resources", Many(Choice(twisted.RESOURCES, "resource")), "Twisted resources: fixed,file (Nginx always "
           "serves its file)", config="bench.resources", resumable=True),
    Option("payloads", Many(Whole(1, MAX_PAYLOAD, "bytes")), "body sizes in bytes, e.g. 40,10000",
           config="bench.payloads", resumable=True),
    Option("keepalive", Many(Switch()), "run only the keep-alive half of the matrix (the seed's -k runs)",
           config="bench.keepalive", switch=(True,), resumable=True),
    Option("close", Switch(), "run only the half without keep-alive", switch=(False,), sets="keepalive", field=False),
    Option("workers", Many(Whole(1, MAX_WORKERS, "worker processes"), empty=True), "worker processes; several "
           "(1,2,4) make a scaling sweep (none: the server host's CPUs)", config="bench.workers", resumable=True),
    Option("baseline", Text(known_kind), "the server kind every cell is compared with",
           config="bench.baseline", resumable=True, shown=Shown("baseline", "baseline"), before=older(DEFAULT_BASELINE)),
    Option("profile_name", Choice(profiles, "load profile"), "load profile: default, seed (the seed's exact weighttp "
           "loads), seed-wrk, tiny or another of bench.profiles", config="bench.profile", flag="profile",
           resumable=True, shown=Shown("profile", "load profile")),
    Option("load", Shape(fields(HALF, HALF)), config="bench.load", field=False),
    Option("warmup", Shape(fields(RULE, RULE)), config="bench.warmup", field=False),
    Option("profile", Shape(profile_shape(complete=True)), config="bench.profiles", resumable=True,
           shown=Shown("load", "load per half, and warm-up")),
    Option("concurrency", Maybe(Whole(1, MAX_CONCURRENCY, "connections")), "connections for this run, overriding "
           "the profile's concurrency in both halves", field=False),
    Option("threads", Maybe(Whole(1, None, "thread")), "load generator threads for this run, overriding the "
           "profile's threads in both halves; at most --concurrency", field=False),
    Option("duration", Maybe(Seconds(MAX_DURATION)), "seconds each measured load runs, overriding the profile in both "
           "halves (replaces its requests)", field=False),
    Option("requests", Maybe(Whole(1, MAX_REQUESTS, "requests")), "requests each measured load makes, overriding "
           "the profile in both halves (replaces its duration; weighttp or h2load, not wrk; at least --concurrency)",
           field=False),
    Option("loadgen", Maybe(Choice(loadgens, "load generator")), "load generator: one of setup.loadgens, e.g. "
           "weighttp, wrk or h2load (null: the first of them a load host has)", config="bench.loadgen",
           resumable=True, shown=Shown("loadgen", "load generator")),
    Option("loadgens", Many(Text(lambda value, where: load_generator(value))), config="setup.loadgens",
           before=older(("weighttp", "wrk"))),  # the order of preference; a stored run's, the one it had
    Option("pipeline", Whole(1, MAX_PIPELINE, "requests per connection"), "requests sent on each keep-alive "
           "connection before their answers are awaited (HTTP/1.1 pipelining: weighttp 0.5's -K, h2load's -m); "
           "every server's answers to that many pipelined requests are checked first", config="bench.pipeline",
           resumable=True, before=older(1)),
    Option("latency", Switch(), "after each case's rounds, load its servers again at fixed offered rates (wrk2): "
           "latency under load, corrected for coordinated omission, and each server's knee (bench.latency)",
           resumable=True, before=older(False)),
    Option("sweep", Maybe(Shape({**fields(SWEEP, set(SWEEP) - {"refine"}), "knee": ((fields(KNEE, KNEE),), True)})),
           config="bench.latency", resumable=True, before=older(None)),
    Option("order", Choice(ORDERS, "order"), "paired: a case's servers up together and loaded in turn, round by "
           "round; sequential: one server after another, as before", config="bench.order", resumable=True,
           shown=Shown("order", "order"), before=older("sequential")),
    Option("repeats", Whole(1, MAX_REPEATS, "rounds"), "measured rounds per case, at least (more until the ratio is "
           "known, see bench.statistics)", config="bench.repeats", resumable=True,
           shown=Shown("repeats", "rounds, at least")),
    Option("statistics", Shape(fields(STATISTICS, STATISTICS)), config="bench.statistics", resumable=True,
           shown=Shown("statistics", "when rounds stop (bench.statistics)")),
    Option("server_cpus", CpuList(), "pin the servers to these CPUs, each worker to one of them, e.g. 1 or 2-7; on "
           "one host, give --load-cpus too, disjoint", config="bench.server_cpus", resumable=True,
           shown=Shown("cpus.server", "pinned CPUs", pinned), before=older(())),
    Option("load_cpus", CpuList(), "pin the load generator to these CPUs with taskset, e.g. 0",
           config="bench.load_cpus", resumable=True, shown=Shown("cpus.load", "pinned CPUs", pinned),
           before=older(())),
    Option("port", Whole(1, MAX_PORT), "port of a case's first server; the others take the next ports",
           config="bench.port", resumable=True, shown=Shown("port", "first port")),
    Option("interface", Maybe(Text(check_address)), "address the servers bind to (null: 127.0.0.1, or the server "
           "host's address)", config="bench.interface", resumable=True),
    Option("backlog", Whole(1, MAX_BACKLOG), "listen backlog for Twisted and Nginx", config="bench.backlog",
           resumable=True, shown=Shown("backlog", "listen backlog")),
    Option("server_log", Switch(), "turn the servers' access logs on (off by default, as the seed's --silence)",
           flag="log", resumable=True, shown=Shown("server_log", "servers' access logs")),
    Option("start_timeout", Seconds(MAX_START), config="bench.start_timeout"),
    Option("server_host", Maybe(Text()), "run the servers on this lab host, user@host[:port] (null: this machine)",
           config="lab.server_host", resumable=True),
    Option("load_hosts", Many(Text(), empty=True, comma=False), "run the load generator on this lab host, "
           "user@host[:port] (none: this machine); repeat it for several load hosts, which share each load evenly "
           "and start together", config="lab.load_hosts", flag="load_host", repeat=True, resumable=True,
           before=lambda stored: (stored["load_host"],) if stored.get("load_host") else ()),
    Option("server_address", Maybe(Text(check_address)), "address the load generator targets (null: the server "
           "host's address)", config="lab.server_address", resumable=True),
    Option("reports", Text(), config="bench.reports"),
    Option("name", Maybe(Text(lambda value, where: check_run_name(value))), "name of the run folder under reports/ (default: a timestamp)"),
    Option("prefix", Text(), config="setup.prefix"),
    Option("tune_profile", Text(), config="tune.profile"),
    Option("command", Text()),
    Option("key", Maybe(Text()), "SSH private key for the lab hosts (default: lab.key, else the agent and ~/.ssh "
           "keys)", field=False, task=True),
    Option("known_hosts", Maybe(Text()), "known_hosts file to check lab host keys against (default: lab.known_hosts, "
           "else ~/.ssh/known_hosts)", field=False, task=True),
    Option("trust_new_host", Switch(), "accept and record the SSH key of a host not yet in known_hosts", field=False,
           task=True),
    Option("resume", Maybe(Text()), "a run to complete (a folder, or a name under reports/): measures only its "
           "missing cells, with its settings", field=False, task=True),
)
BY_NAME = {option.name: option for option in OPTIONS}
FLAGS = {option.flag_name: option for option in OPTIONS if option.help}
FIELDS = tuple(option for option in OPTIONS if option.field)
RESUMABLE = tuple(option.name for option in FIELDS if option.resumable)
# The report's label of each key of env.json's settings, in the table's order.
LABELS: dict[str, str] = {}
for option in OPTIONS:
    if option.shown:
        LABELS.setdefault(option.shown.key.split(".")[0], option.shown.label)
