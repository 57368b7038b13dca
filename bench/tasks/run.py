"""`inv bench` and `inv report`."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from invoke import Exit, task

from bench import report as reports
from bench.config import plain
from bench.errors import BenchError
from bench.measure import matrix
from bench.measure.campaign import Options, resume_conflicts, run_campaign

from . import run_folder

LIST = "comma-separated; default from invoke.yaml (bench.{})"


def resolve(c, *, keepalive=False, close=False, servers=None, interpreters=None, modes=None, resources=None,
            payloads=None, workers=None, repeats=None, loadgen=None, profile=None, port=None, interface=None,
            backlog=None, log=False, name=None, server_host=None, load_host=None, server_address=None) -> Options:
    """Options from the flags, falling back to invoke.yaml for what a flag leaves out."""
    cfg, lab = c.config.bench, c.config.lab
    if keepalive and close:
        raise BenchError("--keepalive and --close each pick one half: pass one, or neither for both")
    profile_name = profile or cfg.profile
    if profile_name not in cfg.profiles:
        raise BenchError(f"unknown load profile {profile_name!r}: choose from {', '.join(cfg.profiles)} (bench.profiles in invoke.yaml)")
    chosen = plain(cfg.profiles[profile_name])
    loadgen = loadgen or cfg.loadgen
    if loadgen and loadgen not in matrix.LOADGENS:
        raise BenchError(f"unknown load generator {loadgen!r}: choose weighttp or wrk")
    options = Options(
        servers=matrix.parse_list(servers or cfg.servers, name="servers"),
        interpreters=matrix.parse_list(interpreters or cfg.interpreters, name="interpreters"),
        modes=matrix.parse_list(modes or cfg.modes, name="modes"),
        resources=matrix.parse_list(resources or cfg.resources, name="resources"),
        payloads=matrix.parse_list(payloads or cfg.payloads, int, name="payloads"),
        keepalive=(True,) if keepalive else (False,) if close else matrix.parse_list(cfg.keepalive, bool, name="keepalive"),
        workers=matrix.parse_list(workers or cfg.workers, int, name="workers"),
        repeats=_integer(repeats or cfg.repeats, "--repeats"),
        statistics={**plain(cfg.statistics), **(chosen.pop("statistics", None) or {})},
        loadgen=loadgen,
        profile_name=profile_name,
        profile=chosen,
        port=_integer(port or cfg.port, "--port"),
        interface=interface or cfg.interface,
        backlog=_integer(backlog or cfg.backlog, "--backlog"),
        server_log=log,
        server_host=server_host or lab.server_host,
        load_host=load_host or lab.load_host,
        server_address=server_address or lab.server_address,
        reports=cfg.reports,
        name=name,
        prefix=c.config.setup.prefix,
        tune_profile=c.config.tune.profile,
        command=" ".join(["inv", *sys.argv[1:]]) if sys.argv[0].endswith(("inv", "invoke")) else "inv bench",
    )
    if options.repeats < 1:
        raise BenchError("--repeats must be at least 1")
    if not 0 < options.port < 65536:
        raise BenchError(f"--port {options.port} is out of range: choose 1 to 65535")
    return options


def _integer(value, flag: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BenchError(f"{flag} must be a whole number, not {value!r}") from None


def stored_options(run_dir: Path) -> Options:
    env = run_dir / "env.json"
    if not env.exists():
        raise BenchError(f"{run_dir} is not a run folder (no env.json): give a folder made by `inv bench`")
    return Options.from_dict(json.loads(env.read_text())["options"])


@task(auto_shortflags=False, help={
    "keepalive": "run only the keep-alive half of the matrix (the seed's -k runs)",
    "close": "run only the half without keep-alive",
    "servers": "servers to measure: nginx,twisted; " + LIST.format("servers"),
    "interpreters": "interpreters for Twisted: pypy,cpython; " + LIST.format("interpreters"),
    "modes": "Twisted worker modes: shared,reuseport,single; " + LIST.format("modes"),
    "resources": "Twisted resources: fixed,file (Nginx always serves its file); " + LIST.format("resources"),
    "payloads": "body sizes in bytes, e.g. 40,10000; " + LIST.format("payloads"),
    "workers": "worker processes; several (1,2,4) make a scaling sweep (default: the server host's CPUs)",
    "repeats": "measured runs per cell, at least (default 3; more while noisy, see bench.statistics)",
    "loadgen": "load generator: weighttp or wrk (default: weighttp when installed, else wrk)",
    "profile": "load profile from invoke.yaml: default, seed (the seed's exact weighttp loads), seed-wrk or tiny",
    "port": "port the servers listen on (default 8080)",
    "interface": "address the servers bind to (default 127.0.0.1, or the server host's address)",
    "backlog": "listen backlog for Twisted and Nginx (default 8192)",
    "log": "turn the servers' access logs on (off by default, as the seed's --silence)",
    "name": "name of the run folder under reports/ (default: a timestamp)",
    "server_host": "run the servers on this lab host, user@host[:port] (default: this machine)",
    "load_host": "run the load generator on this lab host, user@host[:port] (default: this machine)",
    "server_address": "address the load generator targets (default: the server host's address)",
    "key": "SSH private key for the lab hosts (default: lab.key, else the agent and ~/.ssh keys)",
    "known_hosts": "known_hosts file to check lab host keys against (default: lab.known_hosts, else ~/.ssh/known_hosts)",
    "trust_new_host": "accept and record the SSH key of a host not yet in known_hosts",
    "resume": "a run to complete (a folder, or a name under reports/): measures only its missing cells, with its settings",
})
def bench(c, keepalive=False, close=False, servers=None, interpreters=None, modes=None, resources=None,
          payloads=None, workers=None, repeats=None, loadgen=None, profile=None, port=None, interface=None,
          backlog=None, log=False, name=None, server_host=None, load_host=None, server_address=None,
          key=None, known_hosts=None, trust_new_host=False, resume=None):
    """Measure Twisted Web against Nginx and write reports/<run>/report.md."""
    flags = dict(keepalive=keepalive, close=close, servers=servers, interpreters=interpreters, modes=modes,
                 resources=resources, payloads=payloads, workers=workers, repeats=repeats, loadgen=loadgen,
                 profile=profile, port=port, interface=interface, backlog=backlog, log=log, name=name,
                 server_host=server_host, load_host=load_host, server_address=server_address)
    lab = {**plain(c.config.lab), "key": key or c.config.lab.key, "known_hosts": known_hosts or c.config.lab.known_hosts}
    try:
        if resume:
            run_dir = run_folder(resume, c.config.bench.reports)
            options = stored_options(run_dir)
            given = {key: value for key, value in flags.items() if value not in (None, False)}
            if given:
                conflicts = resume_conflicts(options, resolve(c, **flags))
                if conflicts:
                    raise BenchError(f"--resume {run_dir} keeps the run's settings; these differ: "
                                     f"{'; '.join(conflicts)} — drop those flags or start a new run")
            run_dir = run_campaign(options, lab_config=lab, trust_new=trust_new_host, resume=run_dir)
        else:
            run_dir = run_campaign(resolve(c, **flags), lab_config=lab, trust_new=trust_new_host)
    except BenchError as exc:
        raise Exit(f"error: {exc}", code=1)
    except KeyboardInterrupt:
        raise Exit("interrupted", code=130)
    print(f"report: {run_dir / 'report.md'}")


@task(help={"run": "the run: a folder, or a name under reports/ (e.g. 20261126-093000)"})
def report(c, run):
    """Render reports/<run>/report.md again from results.jsonl and env.json."""
    try:
        target = reports.write(run_folder(run, c.config.bench.reports))
    except BenchError as exc:
        raise Exit(f"error: {exc}", code=1)
    print(target)
