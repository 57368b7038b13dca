"""`inv bench` and `inv report`."""
from __future__ import annotations

import sys

from invoke import Exit, task

from .. import matrix, report as reports
from ..campaign import Options, run_campaign
from ..errors import BenchError

LIST = "comma-separated; default from invoke.yaml (bench.{})"


@task(help={
    "keepalive": "run only the keep-alive half of the matrix (the seed's -k runs)",
    "close": "run only the half without keep-alive",
    "servers": "servers to measure: nginx,twisted; " + LIST.format("servers"),
    "interpreters": "interpreters for Twisted: pypy,cpython; " + LIST.format("interpreters"),
    "modes": "Twisted worker modes: shared,reuseport,single; " + LIST.format("modes"),
    "resources": "Twisted resources: fixed,file (Nginx always serves its file); " + LIST.format("resources"),
    "payloads": "body sizes in bytes, e.g. 40,10000; " + LIST.format("payloads"),
    "workers": "worker processes, e.g. 1,2,4 (default: the server host's CPUs)",
    "repeats": "measured runs per cell (default 3)",
    "loadgen": "load generator: weighttp or wrk (default: weighttp when installed, else wrk)",
    "profile": "load profile from invoke.yaml: default, seed (the seed's exact loads) or tiny",
    "port": "port the servers listen on (default 8080)",
    "interface": "address the servers bind to (default 127.0.0.1)",
    "backlog": "listen backlog for Twisted and Nginx (default 8192)",
    "log": "turn the servers' access logs on (off by default, as the seed's --silence)",
    "name": "name of the run folder under reports/ (default: a timestamp)",
})
def bench(c, keepalive=False, close=False, servers=None, interpreters=None, modes=None, resources=None,
          payloads=None, workers=None, repeats=None, loadgen=None, profile=None, port=None, interface=None,
          backlog=None, log=False, name=None):
    """Measure Twisted Web against Nginx and write reports/<run>/report.md."""
    cfg = c.config.bench
    try:
        if keepalive and close:
            raise BenchError("--keepalive and --close each pick one half: pass one, or neither for both")
        profile_name = profile or cfg.profile
        if profile_name not in cfg.profiles:
            raise BenchError(f"unknown load profile {profile_name!r}: choose from {', '.join(cfg.profiles)} (bench.profiles in invoke.yaml)")
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
            repeats=int(repeats or cfg.repeats),
            loadgen=loadgen,
            profile_name=profile_name,
            profile=dict(cfg.profiles[profile_name]),
            port=int(port or cfg.port),
            interface=interface or cfg.interface,
            backlog=int(backlog or cfg.backlog),
            server_log=log,
            reports=cfg.reports,
            name=name,
            prefix=c.config.setup.prefix,
            command=" ".join(["inv", *sys.argv[1:]]) if sys.argv[0].endswith(("inv", "invoke")) else "inv bench",
        )
        if options.repeats < 1:
            raise BenchError("--repeats must be at least 1")
        run_dir = run_campaign(options)
    except BenchError as exc:
        raise Exit(f"error: {exc}", code=1)
    except KeyboardInterrupt:
        raise Exit("interrupted", code=130)
    print(f"report: {run_dir / 'report.md'}")


@task(help={"run": "the run folder, e.g. reports/20261126-093000"})
def report(c, run):
    """Render reports/<run>/report.md again from results.jsonl and env.json."""
    try:
        target = reports.write(run)
    except FileNotFoundError as exc:
        raise Exit(f"error: {exc}: give a run folder made by `inv bench`", code=1)
    print(target)
