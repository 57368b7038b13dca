"""A run's options, resolved in one place from :data:`~.table.OPTIONS`: each flag, else its key in invoke.yaml.

Each value is parsed and checked once, where it comes from (a flag, invoke.yaml, or a resumed run's
env.json); then the rules that tie several options together are checked, once, in :func:`checked`.
invoke.yaml is the only home of the defaults; nothing here repeats them.
"""
from __future__ import annotations

import json
from dataclasses import asdict, make_dataclass
from pathlib import Path
from typing import Any

from bench.envfile import read_env
from bench.errors import BenchError

from .. import sweep
from ..loadgens import capabilities, load_generator, registry
from .table import FIELDS, FLAGS, MAX_PORT, OPTIONS, RESUMABLE, profile_shape
from .values import Shape, configured

# The flags that override the chosen profile's load, in both halves, for one run.
LOAD_FLAGS = ("concurrency", "threads", "duration", "requests")
HALVES = {"keepalive": "keep-alive", "close": "close"}


class _Stored:
    """How a run's options are kept in env.json, and read back."""

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, data: dict, config=None):
        """The options of ``data`` (env.json's); an option a run from before it lacks takes what such runs had,
        or, when it does not bear on the results, its value in ``config``."""
        values, missing = {}, []
        for option in FIELDS:
            if option.name in data:
                value = data[option.name]
                values[option.name] = tuple(value) if isinstance(value, list) else value
            elif option.before is not None:
                values[option.name] = option.before(data)
            elif config is not None and option.config and not option.resumable:
                values[option.name] = _value(option, {}, config)
            else:
                missing.append(option.name)
        if missing:
            raise BenchError(f"the stored options lack {', '.join(sorted(missing))}: start a new run instead of resuming")
        return cls(**values)


Options = make_dataclass("Options", [(option.name, Any) for option in FIELDS], bases=(_Stored,),
                         namespace={"__module__": __name__, "__doc__": "Everything a campaign needs: one field per "
                                    "option of the table that is no mere flag."})


def resolve(config, flags: dict, command: str = "inv bench") -> Options:
    """Options from the flags given (by the task's parameter names; None or False: not given), else invoke.yaml."""
    unknown = set(flags) - set(FLAGS)
    if unknown:
        raise BenchError(f"unknown bench option {', '.join(sorted(unknown))}")
    given = _given(flags)
    values = {option.name: _value(option, given, config) for option in OPTIONS
              if not option.task and not option.sets and option.name not in ("profile", "command")}
    _flag_rules(given, values)
    values["profile"], values["statistics"] = _profile(values, config)
    values["command"] = command
    return checked(Options(**{option.name: values[option.name] for option in FIELDS}), given)


def _value(option, given: dict, config):
    """One option's value from its flag, else from invoke.yaml (a flag alone: its value when not given), checked."""
    setters = [other for other in OPTIONS if other.takes == option.name and other.switch is not None
               and other.flag_name in given]
    if len(setters) > 1:
        named = " and ".join(_flag(other) for other in setters)
        raise BenchError(f"{named} both set {option.name}: pass one of them, or neither for invoke.yaml's {option.config}")
    if setters:
        return setters[0].switch
    if option.help and option.switch is None and option.flag_name in given:
        where = _flag(option)
        value = option.kind.parse(given[option.flag_name], where)
    elif option.config:
        where = f"invoke.yaml's {option.config}"
        value = option.kind.parse(configured(config, option.config), where)
    else:
        return option.kind.absent
    option.kind.check(value, where, config)
    return value


def _flag(option) -> str:
    return "--" + option.flag_name.replace("_", "-")


def _flag_rules(given: dict, values: dict) -> None:
    """What the flags given may not ask for together, nor of the load generator --loadgen names."""
    if "duration" in given and "requests" in given:
        raise BenchError("--duration and --requests each say when a run ends: pass one of them")
    program = values["loadgen"]
    can = capabilities(load_generator(program)) if program else None
    if "requests" in given and can and not can.requests:
        raise BenchError(f"--requests with {program}: {program} runs for a duration, not a request count; "
                         f"give --duration SECONDS instead")
    if "duration" in given and can and not can.duration:
        raise BenchError(f"--duration with {program}: {program} runs for a request count, not a duration; "
                         f"give --requests COUNT instead")
    if values["pipeline"] > 1 and can and not can.pipelining:
        able = [name for name, generator in registry(values["loadgens"]).items() if capabilities(generator).pipelining]
        raise BenchError(f"--pipeline with {program}: {program} cannot pipeline requests; choose --loadgen "
                         f"{' or '.join(able) or 'one that can (none of setup.loadgens)'}")


def _profile(values: dict, config) -> tuple[dict, dict]:
    """The chosen profile, what it leaves out taken from bench.load and bench.warmup, with the load flags
    applied; and bench.statistics with what the profile overrides."""
    name = values["profile_name"]
    written = configured(config, f"bench.profiles.{name}")
    Shape(profile_shape(complete=False)).check(written, f"invoke.yaml's bench.profiles.{name}")
    profile = {key: value for key, value in written.items() if key != "statistics"}
    for half in HALVES:
        profile[half] = _filled(written.get(half), values["load"])
    profile["warmup"] = _filled(written.get("warmup"), values["warmup"])
    statistics = {**values["statistics"], **(written.get("statistics") or {})}
    return overridden(profile, {key: values[key] for key in LOAD_FLAGS if values[key] is not None}), statistics


def _filled(written: dict | None, defaults: dict) -> dict:
    """``written`` as the profile has it, then each default it leaves out."""
    written = written or {}
    return {**written, **{key: value for key, value in defaults.items() if key not in written}}


def overridden(profile: dict, flags: dict) -> dict:
    """The profile with --concurrency/--threads/--duration/--requests (checked) applied to both halves.

    A half runs for a duration or a request count: --duration replaces its requests and
    --requests its duration. The flags given are kept under ``flags`` (env.json shows them).
    """
    if not flags:
        return profile
    result = dict(profile)
    for half in HALVES:
        load = {key: value for key, value in (profile.get(half) or {}).items()
                if not ("duration" in flags and key == "requests" or "requests" in flags and key == "duration")}
        result[half] = {**load, **flags}
    result["flags"] = flags
    return result


def checked(options: Options, flags: dict | None = None) -> Options:
    """The options, or a one-line error for what several of them may not be together (also for a resumed run).

    ``flags``: the flags given, so the error names them rather than invoke.yaml when they set the values.
    """
    flags = flags or {}
    for alive in options.keepalive:
        half = "keepalive" if alive else "close"
        _check_half(options.profile.get(half) or {}, HALVES[half], f"bench.profiles.{options.profile_name}.{half}", flags)
    check_load_hosts(options.load_hosts, options.server_host)
    if options.pipeline > 1 and False in options.keepalive:
        raise BenchError(f"--pipeline {options.pipeline} needs keep-alive (a connection that closes carries one "
                         f"request): add --keepalive")
    if options.latency:
        if options.sweep is None:
            raise BenchError("--latency sweeps as bench.latency says, and this run has none: start a new run")
        sweep.Plan.of(options.sweep)
        if len(options.load_hosts) > 1:
            raise BenchError("--latency measures percentiles from one wrk2, and those of several load hosts never "
                             "add up: give one --load-host")
    for version in options.twisted or ():
        if version not in options.twisted_python:
            raise BenchError(f"Twisted {version} is not pinned in setup.twisted (pinned: {', '.join(options.twisted_python)}): "
                             f"add its sdist's url, sha256 and oldest Python there")
    return options


def _check_half(load: dict, words: str, key: str, flags: dict) -> None:
    """A half of the matrix has its end (requests or duration), threads ≤ concurrency and requests ≥ concurrency."""
    if not load.get("requests") and not load.get("duration"):
        raise BenchError(f"the {words} half has neither requests nor duration: set one in invoke.yaml's {key}")
    concurrency, threads = load["concurrency"], load["threads"]
    if threads > concurrency:
        fix = ("--threads must be at most --concurrency" if {"threads", "concurrency"} & set(flags)
               else f"threads must be at most concurrency in invoke.yaml's {key} (or bench.load)")
        raise BenchError(f"{threads} threads for the {words} half's {concurrency} connections: {fix}")
    if load.get("requests") and load["requests"] < concurrency:
        fix = ("--requests must be at least --concurrency" if {"requests", "concurrency"} & set(flags)
               else f"requests must be at least concurrency in invoke.yaml's {key} (or bench.load)")
        raise BenchError(f"{load['requests']} requests for the {words} half's {concurrency} connections: {fix}")


def check_ports(first: int, servers: int) -> None:
    """Every server of a case on its own port, the first one's and the ones after it: all of them ports."""
    if first + servers - 1 > MAX_PORT:
        raise BenchError(f"--port {first} leaves no room for the {servers} servers of a case (ports {first} to "
                         f"{first + servers - 1}): choose a port of at most {MAX_PORT + 1 - servers}")


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


def stored(run_dir: Path, config=None) -> Options:
    """The options a run was started with, from its env.json, each checked as a new run's are (an option
    its harness did not know, and that does not bear on the results, from ``config``)."""
    env = read_env(run_dir / "env.json")
    if not env:
        raise BenchError(f"{run_dir} is not a run folder (no env.json): give a folder made by `inv bench`")
    if not isinstance(env.get("options"), dict):
        raise BenchError(f"{run_dir / 'env.json'} has no options: it was not written by `inv bench`; start a new run")
    try:
        options = Options.from_dict(env["options"], config)
    except BenchError as exc:
        raise BenchError(f"{run_dir / 'env.json'}: {exc}") from None
    try:
        for option in FIELDS:
            option.kind.check(getattr(options, option.name), f"option {option.name}")
        return checked(options)
    except BenchError as exc:
        raise BenchError(f"{run_dir / 'env.json'}: {exc} — another harness wrote it, or it was edited: start a "
                         f"new run instead of resuming") from None


def resume_conflicts(stored: Options, given: Options) -> list[str]:
    """The settings a resumed run would change: each as 'name: stored vs given'."""
    old, new = stored.to_dict(), given.to_dict()
    return [f"{key}: {old[key]} vs {new[key]}" for key in RESUMABLE if old.get(key) != new.get(key)]


def settings(options: Options, table=FIELDS, **found) -> dict:
    """env.json's ``settings``: each option the table shows, at its key; ``found`` gives what the run found
    instead of what was asked (``loadgen``: the tool detected)."""
    shown: dict = {}
    for option in table:
        if option.shown is None:
            continue
        value = found.get(option.name, getattr(options, option.name))
        *parents, key = option.shown.key.split(".")
        target = shown
        for parent in parents:
            target = target.setdefault(parent, {})
        target[key] = option.shown.value(value) if option.shown.value else value
    return shown


def _given(flags: dict) -> dict:
    """The flags given: None, False or no item (a repeatable flag) is a flag not given."""
    return {flag: value for flag, value in flags.items() if value not in (None, False, [], ())}


def run_flags(flags: dict) -> dict:
    """The flags given that bear on the run's options (not the task's own: SSH, --resume)."""
    return {flag: value for flag, value in _given(flags).items() if not FLAGS[flag].task}

