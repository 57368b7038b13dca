"""A run's options, resolved in one place: each flag, else its default in invoke.yaml (``bench:``).

invoke.yaml is the only home of the defaults; nothing here repeats them. A resumed run
reads its options back from its env.json.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from bench.config import plain
from bench.errors import BenchError
from bench.records import read_env

from . import cpus, matrix
from .names import check_address, check_run_name

ORDERS = ("paired", "sequential")
# What a flag on the command line may name (the rest of the options come from invoke.yaml alone).
FLAGS = ("keepalive", "close", "servers", "interpreters", "modes", "resources", "payloads", "workers",
         "repeats", "loadgen", "profile", "order", "server_cpus", "load_cpus", "port", "interface", "backlog",
         "log", "name", "server_host", "load_host", "server_address")


@dataclass
class Options:
    """Everything a campaign needs."""

    servers: tuple
    interpreters: tuple
    modes: tuple
    resources: tuple
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
    load_host: str | None
    server_address: str | None  # what the load generator targets
    reports: str
    name: str | None
    prefix: str
    tune_profile: str
    command: str

    # What must match for a resumed run to add to the same results.
    RESUMABLE = ("servers", "interpreters", "modes", "resources", "payloads", "keepalive", "workers",
                 "repeats", "statistics", "loadgen", "profile_name", "profile", "order", "server_cpus",
                 "load_cpus", "port", "interface",
                 "backlog", "server_log", "server_host", "load_host", "server_address")

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, data: dict) -> "Options":
        known = {f.name for f in fields(cls)}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known}
        values.setdefault("order", "sequential")  # runs from before rounds measured one server at a time
        values.setdefault("server_cpus", ())
        values.setdefault("load_cpus", ())
        missing = known - set(values)
        if missing:
            raise BenchError(f"the stored options lack {', '.join(sorted(missing))}: start a new run instead of resuming")
        return cls(**values)


def resolve(config, flags: dict, command: str = "inv bench") -> Options:
    """Options from the flags given (None or False: not given), falling back to invoke.yaml."""
    unknown = set(flags) - set(FLAGS)
    if unknown:
        raise BenchError(f"unknown bench option {', '.join(sorted(unknown))}")
    given = {key: value for key, value in flags.items() if value not in (None, False)}
    cfg, lab = config.bench, config.lab
    if "name" in given:
        check_run_name(given["name"])
    for value, flag in ((given.get("interface", cfg.interface), "--interface"),
                        (given.get("server_address", lab.server_address), "--server-address")):
        if value is not None:
            check_address(value, flag)
    if given.get("keepalive") and given.get("close"):
        raise BenchError("--keepalive and --close each pick one half: pass one, or neither for both")
    profile_name = given.get("profile", cfg.profile)
    if profile_name not in cfg.profiles:
        raise BenchError(f"unknown load profile {profile_name!r}: choose from {', '.join(cfg.profiles)} (bench.profiles in invoke.yaml)")
    chosen = plain(cfg.profiles[profile_name])
    loadgen = given.get("loadgen", cfg.loadgen)
    if loadgen and loadgen not in matrix.LOADGENS:
        raise BenchError(f"unknown load generator {loadgen!r}: choose weighttp or wrk")
    order = given.get("order", cfg.order)
    if order not in ORDERS:
        raise BenchError(f"unknown order {order!r}: choose paired (servers in turn, round by round) or sequential")
    if given.get("keepalive"):
        keepalive = (True,)
    elif given.get("close"):
        keepalive = (False,)
    else:
        keepalive = matrix.parse_list(cfg.keepalive, bool, name="keepalive")
    options = Options(
        servers=matrix.parse_list(given.get("servers", cfg.servers), name="servers"),
        interpreters=matrix.parse_list(given.get("interpreters", cfg.interpreters), name="interpreters"),
        modes=matrix.parse_list(given.get("modes", cfg.modes), name="modes"),
        resources=matrix.parse_list(given.get("resources", cfg.resources), name="resources"),
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
        load_host=given.get("load_host", lab.load_host),
        server_address=given.get("server_address", lab.server_address),
        reports=cfg.reports,
        name=given.get("name"),
        prefix=config.setup.prefix,
        tune_profile=config.tune.profile,
        command=command,
    )
    if options.repeats < 1:
        raise BenchError("--repeats must be at least 1")
    if not 0 < options.port < 65536:
        raise BenchError(f"--port {options.port} is out of range: choose 1 to 65535")
    return options


def stored(run_dir: Path) -> Options:
    """The options a run was started with, from its env.json."""
    env = read_env(run_dir / "env.json")
    if not env:
        raise BenchError(f"{run_dir} is not a run folder (no env.json): give a folder made by `inv bench`")
    return Options.from_dict(env["options"])


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
