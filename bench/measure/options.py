"""A run's options, resolved in one place: each flag, else its default in invoke.yaml (``bench:``).

invoke.yaml is the only home of the defaults; nothing here repeats them. A resumed run
reads its options back from its env.json.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from bench.config import plain
from bench.envfile import read_env
from bench.errors import BenchError
from bench.jsonfile import Range, conforms

from . import cpus, matrix, servers
from .names import check_address, check_run_name

ORDERS = ("paired", "sequential")
# What a flag on the command line may name (the rest of the options come from invoke.yaml alone).
FLAGS = ("keepalive", "close", "servers", "interpreters", "modes", "resources", "payloads", "workers",
         "repeats", "loadgen", "profile", "order", "server_cpus", "load_cpus", "port", "interface", "backlog",
         "log", "name", "server_host", "load_hosts", "server_address", "concurrency", "threads", "duration",
         "requests", "twisted", "baseline")
# The flags that override the chosen profile's load, in both halves, for one run.
LOAD_FLAGS = ("concurrency", "threads", "duration", "requests")


@dataclass
class Options:
    """Everything a campaign needs."""

    servers: tuple  # the server kinds measured: each a module of bench/measure/servers/
    baseline: str  # the kind every other cell is compared with
    interpreters: tuple
    modes: tuple
    resources: tuple
    twisted: tuple  # Twisted versions, each its own cell; empty: the newest set up for each interpreter
    twisted_python: dict  # version -> the oldest Python it supports, for each release pinned in setup.twisted
    payloads: tuple
    keepalive: tuple
    workers: tuple  # empty: the server host's CPU count
    repeats: int  # rounds at least
    statistics: dict  # max_repeats, ci_target, max_seconds, cv_threshold
    loadgen: str | None  # None: weighttp when installed, else wrk
    profile_name: str
    profile: dict
    order: str  # paired: a case's servers loaded in turn, round by round; sequential: one server after another
    server_cpus: tuple  # the servers' CPUs, each worker pinned to one; () for no pinning
    load_cpus: tuple  # the load generator's CPUs, disjoint from the servers'
    port: int
    interface: str | None  # None: loopback locally, the server's address on a lab host
    backlog: int
    server_log: bool
    server_host: str | None  # None: this machine
    load_hosts: tuple  # () for this machine; several share each load, started together
    server_address: str | None  # what the load generator targets
    reports: str
    name: str | None
    prefix: str
    tune_profile: str
    command: str

    # What must match for a resumed run to add to the same results.
    RESUMABLE = ("servers", "baseline", "interpreters", "modes", "resources", "twisted", "payloads", "keepalive",
                 "workers", "repeats", "statistics", "loadgen", "profile_name", "profile", "order", "server_cpus",
                 "load_cpus", "port", "interface",
                 "backlog", "server_log", "server_host", "load_hosts", "server_address")

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, data: dict) -> "Options":
        known = {f.name for f in fields(cls)}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known}
        values.setdefault("order", "sequential")  # runs from before rounds measured one server at a time
        values.setdefault("server_cpus", ())
        values.setdefault("load_cpus", ())
        if "load_hosts" not in values:  # runs from before several load hosts had one, or none
            values["load_hosts"] = (data["load_host"],) if data.get("load_host") else ()
        missing = known - set(values)
        if missing:
            raise BenchError(f"the stored options lack {', '.join(sorted(missing))}: start a new run instead of resuming")
        return cls(**values)


def resolve(config, flags: dict, command: str = "inv bench") -> Options:
    """Options from the flags given (None or False: not given), falling back to invoke.yaml."""
    unknown = set(flags) - set(FLAGS)
    if unknown:
        raise BenchError(f"unknown bench option {', '.join(sorted(unknown))}")
    given = {key: value for key, value in flags.items() if value not in (None, False, [], ())}
    cfg, lab = config.bench, config.lab
    if given.get("keepalive") and given.get("close"):
        raise BenchError("--keepalive and --close each pick one half: pass one, or neither for both")
    profile_name = given.get("profile", cfg.profile)
    if profile_name not in cfg.profiles:
        raise BenchError(f"unknown load profile {profile_name!r}: choose from {', '.join(cfg.profiles)} (bench.profiles in invoke.yaml)")
    chosen = plain(cfg.profiles[profile_name])
    check_values(chosen, PROFILE, f"bench.profiles.{profile_name}")  # before flags override its load
    loadgen = given.get("loadgen", cfg.loadgen)
    if loadgen and loadgen not in matrix.LOADGENS:
        raise BenchError(f"unknown load generator {loadgen!r}: choose weighttp or wrk")
    chosen = overridden(chosen, {key: given[key] for key in LOAD_FLAGS if key in given}, loadgen)
    order = given.get("order", cfg.order)
    if order not in ORDERS:
        raise BenchError(f"unknown order {order!r}: choose paired (servers in turn, round by round) or sequential")
    if given.get("keepalive"):
        keepalive = (True,)
    elif given.get("close"):
        keepalive = (False,)
    else:
        keepalive = matrix.parse_list(cfg.keepalive, bool, name="keepalive")
    pinned = {str(release["version"]): str(release["python"]) for release in config.setup.twisted}
    options = Options(
        servers=matrix.parse_list(given.get("servers", cfg.servers), name="servers"),
        baseline=given.get("baseline", cfg.baseline),
        interpreters=matrix.parse_list(given.get("interpreters", cfg.interpreters), name="interpreters"),
        modes=matrix.parse_list(given.get("modes", cfg.modes), name="modes"),
        resources=matrix.parse_list(given.get("resources", cfg.resources), name="resources"),
        twisted=_pinned(matrix.parse_list(given.get("twisted", cfg.twisted), name="Twisted versions"), pinned),
        twisted_python=pinned,
        payloads=matrix.parse_list(given.get("payloads", cfg.payloads), int, name="payloads"),
        keepalive=keepalive,
        workers=matrix.parse_list(given.get("workers", cfg.workers), int, name="workers"),
        repeats=_integer(given.get("repeats", cfg.repeats), "--repeats"),
        statistics={**plain(cfg.statistics), **(chosen.pop("statistics", None) or {})},
        loadgen=loadgen,
        profile_name=profile_name,
        profile=chosen,
        order=order,
        server_cpus=_cpus(given.get("server_cpus", cfg.server_cpus)),
        load_cpus=_cpus(given.get("load_cpus", cfg.load_cpus)),
        port=_integer(given.get("port", cfg.port), "--port"),
        interface=given.get("interface", cfg.interface),
        backlog=_integer(given.get("backlog", cfg.backlog), "--backlog"),
        server_log=bool(given.get("log", False)),
        server_host=given.get("server_host", lab.server_host),
        load_hosts=_hosts(given.get("load_hosts", lab.load_hosts)),
        server_address=given.get("server_address", lab.server_address),
        reports=cfg.reports,
        name=given.get("name"),
        prefix=config.setup.prefix,
        tune_profile=config.tune.profile,
        command=command,
    )
    return checked(options)


# A client address has 65535 ports, so no more connections to one server than that; a timed
# run of an hour is far past what a cell needs; a count past a billion is a typo.
MAX_CONCURRENCY = 65535
MAX_DURATION = 3600
MAX_REQUESTS = 10**9
HALVES = {"keepalive": "keep-alive", "close": "close"}


def overridden(profile: dict, flags: dict, loadgen: str | None = None) -> dict:
    """The profile with --concurrency/--threads/--duration/--requests applied to both halves, checked.

    A half runs for a duration or a request count: --duration replaces its requests and
    --requests its duration. The flags given are kept under ``flags`` (env.json shows them).
    """
    if not flags:
        return profile
    if "duration" in flags and "requests" in flags:
        raise BenchError("--duration and --requests each say when a run ends: pass one of them")
    if "requests" in flags and loadgen == "wrk":
        raise BenchError("--requests with wrk: wrk runs for a duration, not a request count; give --duration SECONDS instead")
    values = {key: _integer(flags[key], f"--{key}") for key in ("concurrency", "threads", "requests") if key in flags}
    if "duration" in flags:
        values["duration"] = _seconds(flags["duration"])
    if not 1 <= values.get("concurrency", 1) <= MAX_CONCURRENCY:
        raise BenchError(f"--concurrency {values['concurrency']} is out of range: choose 1 to {MAX_CONCURRENCY} connections")
    if values.get("threads", 1) < 1:
        raise BenchError(f"--threads {values['threads']} is out of range: give at least 1 thread")
    if not 1 <= values.get("requests", 1) <= MAX_REQUESTS:
        raise BenchError(f"--requests {values['requests']} is out of range: choose 1 to {MAX_REQUESTS} requests")
    result = dict(profile)
    for half, words in HALVES.items():
        load = {key: value for key, value in (profile.get(half) or {}).items()
                if not ("duration" in values and key == "requests" or "requests" in values and key == "duration")}
        load.update(values)
        concurrency, threads = int(load.get("concurrency", 1)), int(load.get("threads", 1))
        if threads > concurrency:
            raise BenchError(f"{threads} threads for the {words} half's {concurrency} connections: "
                             "--threads must be at most --concurrency")
        if load.get("requests") and int(load["requests"]) < concurrency:
            raise BenchError(f"{load['requests']} requests for the {words} half's {concurrency} connections: "
                             "--requests must be at least --concurrency")
        result[half] = load
    result["flags"] = values
    return result


def _pinned(versions: tuple, pinned: dict) -> tuple:
    """The Twisted versions asked for, each pinned in setup.twisted (so `inv setup` can install it)."""
    for version in versions:
        if version not in pinned:
            raise BenchError(f"Twisted {version} is not pinned in setup.twisted (pinned: {', '.join(pinned)}): "
                             f"add its sdist's url, sha256 and oldest Python there")
    return versions


def _seconds(value) -> int | float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise BenchError(f"--duration must be a number of seconds, not {value!r}") from None
    if not 0 < seconds <= MAX_DURATION:  # also refuses nan and inf
        raise BenchError(f"--duration {value} is out of range: choose more than 0 and at most {MAX_DURATION} seconds")
    return int(seconds) if seconds.is_integer() else seconds


# Upper bounds a real run can reach: rounds of a second or more each, and workers for the
# biggest machines (a worker per hardware thread).
MAX_REPEATS = 100
MAX_WORKERS = 1024
MAX_PORT = 65535
# bench.statistics in invoke.yaml (a profile may override it): key -> what it must be. A key the runner
# gains slots in here, and the campaign hands every one of them to the runner.
STATISTICS = {
    "max_repeats": (Range((int,), 1, 10 * MAX_REPEATS),),  # rounds at most
    "ci_target": (Range((int, float), 0, 1),),  # the interval's half-width, as a share of its median
    "max_seconds": (Range((int, float), 0, 24 * 3600),),  # a case's rounds, at most
    "cv_threshold": (Range((int, float), 0, 10),),  # more spread than this is noisy
    "min_rounds": (Range((int,), 1, 10 * MAX_REPEATS),),  # the target may end a case from this round on
}
# A profile's loads (each half, the warm-up) as matrix.load_for and the runner read them.
LOAD = {"concurrency": (Range((int,), 1, MAX_CONCURRENCY),), "threads": (Range((int,), 1, MAX_CONCURRENCY),),
        "requests": (Range((int,), 1, MAX_REQUESTS), type(None)),
        "duration": (Range((int, float), 0, MAX_DURATION), type(None))}
WARMUP = {**LOAD, "tolerance": (Range((int, float), 0, 1),), "max_rounds": (Range((int,), 1, MAX_REPEATS),),
          "max_seconds": (Range((int, float), 0, MAX_DURATION),)}
PROFILE = {half: ({key: (shape, False) for key, shape in fields.items()}, type(None))
           for half, fields in (("keepalive", LOAD), ("close", LOAD), ("warmup", WARMUP))}
# Option -> the type of its value, or of each item for a tuple (bool is never an int here).
KINDS = {"servers": str, "baseline": str, "interpreters": str, "modes": str, "resources": str, "twisted": str,
         "twisted_python": dict, "payloads": int, "keepalive": bool,
         "workers": int, "repeats": int, "statistics": dict, "loadgen": (str, type(None)), "profile_name": str,
         "profile": dict, "order": str, "server_cpus": int, "load_cpus": int, "port": int,
         "interface": (str, type(None)), "backlog": int, "server_log": bool, "server_host": (str, type(None)),
         "load_hosts": str, "server_address": (str, type(None)), "reports": str,
         "name": (str, type(None)), "prefix": str, "tune_profile": str, "command": str}
TUPLES = ("servers", "interpreters", "modes", "resources", "twisted", "payloads", "keepalive", "workers", "server_cpus",
          "load_cpus", "load_hosts")


def checked(options: Options) -> Options:
    """The options, or a one-line error for a value of the wrong type or out of bounds (also for a resumed run)."""
    for name, kind in KINDS.items():
        value = getattr(options, name)
        items = value if name in TUPLES and isinstance(value, tuple) else (value,)
        wrong = name in TUPLES and not isinstance(value, tuple)
        wrong = wrong or any(not isinstance(item, kind) or (isinstance(item, bool) and kind is int) for item in items)
        if wrong:
            raise BenchError(f"option {name} is {value!r}, which is not {_kind_words(kind, name in TUPLES)}")
    servers.kinds(options.servers)
    servers.kind(options.baseline)
    if not 1 <= options.repeats <= MAX_REPEATS:
        raise BenchError(f"--repeats {options.repeats} is out of range: choose 1 to {MAX_REPEATS} rounds")
    for count in options.workers:
        if not 1 <= count <= MAX_WORKERS:
            raise BenchError(f"--workers {count} is out of range: choose 1 to {MAX_WORKERS} worker processes")
    if not 0 < options.port <= MAX_PORT:
        raise BenchError(f"--port {options.port} is out of range: choose 1 to {MAX_PORT}")
    if options.name is not None:
        check_run_name(options.name)
    for value, flag in ((options.interface, "--interface"), (options.server_address, "--server-address")):
        if value is not None:
            check_address(value, flag)
    check_load_hosts(options.load_hosts, options.server_host)
    if options.order not in ORDERS:
        raise BenchError(f"unknown order {options.order!r}: choose paired (servers in turn, round by round) or sequential")
    check_values(options.statistics, STATISTICS, "bench.statistics")
    check_values(options.profile, PROFILE, f"bench.profiles.{options.profile_name}")
    return options


def check_values(values: dict, fields: dict, where: str) -> None:
    """Each value named in ``fields`` that ``values`` holds, of its type and within its bounds."""
    try:
        conforms(values, ({key: (shape, False) for key, shape in fields.items()},), where)
    except ValueError as exc:
        raise BenchError(f"{exc}: correct it in invoke.yaml") from None


def check_ports(first: int, servers: int) -> None:
    """Every server of a case on its own port, the first one's and the ones after it: all of them ports."""
    if first + servers - 1 > MAX_PORT:
        raise BenchError(f"--port {first} leaves no room for the {servers} servers of a case (ports {first} to "
                         f"{first + servers - 1}): choose a port of at most {MAX_PORT + 1 - servers}")


def _hosts(value) -> tuple[str, ...]:
    """``lab.load_hosts`` or the --load-host flags: a list, or one host as a string; none for this machine."""
    if value in (None, "", [], ()):
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def check_load_hosts(load_hosts: tuple[str, ...], server_host: str | None) -> None:
    """Several load hosts are distinct machines, none of them the server's."""
    local = ("local", None, "")
    repeated = sorted({host for host in load_hosts if load_hosts.count(host) > 1})
    if repeated:
        raise BenchError(f"--load-host {repeated[0]} is given twice: give each load host once")
    if len(load_hosts) > 1:
        if any(host in local for host in load_hosts):
            raise BenchError("this machine cannot be one of several load hosts: give only lab hosts to --load-host")
        if server_host not in local and server_host in load_hosts:
            raise BenchError(f"{server_host} is the server host and one of several load hosts: "
                             f"it can only be the one load host; drop it from --load-host")


def _kind_words(kind, many: bool) -> str:
    names = " or ".join(k.__name__.replace("NoneType", "null") for k in (kind if isinstance(kind, tuple) else (kind,)))
    return f"a list of {names}" if many else names


def stored(run_dir: Path) -> Options:
    """The options a run was started with, from its env.json, checked as a new run's are."""
    env = read_env(run_dir / "env.json")
    if not env:
        raise BenchError(f"{run_dir} is not a run folder (no env.json): give a folder made by `inv bench`")
    if not isinstance(env.get("options"), dict):
        raise BenchError(f"{run_dir / 'env.json'} has no options: it was not written by `inv bench`; start a new run")
    try:
        return checked(Options.from_dict(env["options"]))
    except BenchError as exc:
        raise BenchError(f"{run_dir / 'env.json'}: {exc}") from None


def resume_conflicts(stored: Options, given: Options) -> list[str]:
    """The settings a resumed run would change: each as 'name: stored vs given'."""
    old, new = stored.to_dict(), given.to_dict()
    return [f"{key}: {old[key]} vs {new[key]}" for key in Options.RESUMABLE if old.get(key) != new.get(key)]


def _cpus(value) -> tuple[int, ...]:
    return cpus.parse_cpus(str(value)) if value not in (None, "") else ()


def _integer(value, flag: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BenchError(f"{flag} must be a whole number, not {value!r}") from None
