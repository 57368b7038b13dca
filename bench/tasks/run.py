"""`inv bench` and `inv report`."""
from __future__ import annotations

import sys

from invoke import Exit, task

from bench import report as reports
from bench.config import plain
from bench.errors import BenchError
from bench.measure.campaign import run_campaign, unclean_cells
from bench.measure.options import FLAGS as BENCH_FLAGS
from bench.measure.options import resolve, resume_conflicts, stored

from . import exits, run_folder

LIST = "comma-separated; default from invoke.yaml (bench.{})"
# `inv bench` exits with this when the run finished but some cells failed or were flagged.
SOME_CELLS_FAILED = 2


@task(auto_shortflags=False, iterable=["load_host"], help={
    "keepalive": "run only the keep-alive half of the matrix (the seed's -k runs)",
    "close": "run only the half without keep-alive",
    "servers": "server kinds to measure: nginx,twisted (modules of bench/measure/servers/); " + LIST.format("servers"),
    "baseline": "the kind every other cell is compared with (bench.baseline)",
    "interpreters": "interpreters for Twisted: pypy,cpython; " + LIST.format("interpreters"),
    "modes": "Twisted worker modes: shared,reuseport,single; " + LIST.format("modes"),
    "resources": "Twisted resources: fixed,file (Nginx always serves its file); " + LIST.format("resources"),
    "twisted": "Twisted versions, each its own cell, e.g. 22.10.0,26.4.0 (pinned in setup.twisted, set up by `inv setup "
               "--twisted`); default: the newest set up per interpreter (bench.twisted)",
    "payloads": "body sizes in bytes, e.g. 40,10000; " + LIST.format("payloads"),
    "workers": "worker processes; several (1,2,4) make a scaling sweep (default: the server host's CPUs)",
    "repeats": "measured rounds per case, at least (bench.repeats; more until the ratio is known, see bench.statistics)",
    "loadgen": "load generator: weighttp or wrk (default: weighttp when installed, else wrk)",
    "profile": "load profile from invoke.yaml: default, seed (the seed's exact weighttp loads), seed-wrk or tiny",
    "concurrency": "connections for this run, overriding the profile's concurrency in both halves (bench.profiles)",
    "threads": "load generator threads for this run, overriding the profile's threads in both halves; at most --concurrency",
    "duration": "seconds each measured load runs, overriding the profile in both halves (replaces its requests)",
    "requests": "requests each measured load makes, overriding the profile in both halves (replaces its duration; "
                "weighttp only, at least --concurrency)",
    "order": "paired: a case's servers up together and loaded in turn, round by round (bench.order); "
             "sequential: one server after another, as before",
    "server_cpus": "pin the servers to these CPUs, each worker to one of them, e.g. 1 or 2-7 (bench.server_cpus); "
                   "on one host, give --load-cpus too, disjoint",
    "load_cpus": "pin the load generator to these CPUs with taskset, e.g. 0 (bench.load_cpus)",
    "port": "port of a case's first server; the others take the next ports (bench.port)",
    "interface": "address the servers bind to (default 127.0.0.1, or the server host's address)",
    "backlog": "listen backlog for Twisted and Nginx (bench.backlog)",
    "log": "turn the servers' access logs on (off by default, as the seed's --silence)",
    "name": "name of the run folder under reports/ (default: a timestamp)",
    "server_host": "run the servers on this lab host, user@host[:port] (default: this machine)",
    "load_host": "run the load generator on this lab host, user@host[:port] (default: this machine); repeat it for "
                 "several load hosts, which share each load evenly and start together (lab.load_hosts)",
    "server_address": "address the load generator targets (default: the server host's address)",
    "key": "SSH private key for the lab hosts (default: lab.key, else the agent and ~/.ssh keys)",
    "known_hosts": "known_hosts file to check lab host keys against (default: lab.known_hosts, else ~/.ssh/known_hosts)",
    "trust_new_host": "accept and record the SSH key of a host not yet in known_hosts",
    "resume": "a run to complete (a folder, or a name under reports/): measures only its missing cells, with its settings",
})
@exits()
def bench(c, keepalive=False, close=False, servers=None, baseline=None, interpreters=None, modes=None, resources=None,
          twisted=None, payloads=None, workers=None, repeats=None, loadgen=None, profile=None, order=None, server_cpus=None,
          load_cpus=None, port=None, concurrency=None, threads=None, duration=None, requests=None,
          interface=None, backlog=None, log=False, name=None, server_host=None, load_host=None,
          server_address=None, key=None, known_hosts=None, trust_new_host=False, resume=None):
    """Measure Twisted Web against Nginx and write reports/<run>/report.md.

    Exit codes: 0 every cell measured cleanly; 1 the run could not start or stopped on an
    error; 2 the run finished but some cells failed or were flagged; 130 interrupted.
    """
    flags = {key: value for key, value in locals().items() if key in BENCH_FLAGS}
    flags["load_hosts"] = load_host or None
    lab = {**plain(c.config.lab), "key": key or c.config.lab.key, "known_hosts": known_hosts or c.config.lab.known_hosts}
    # `inv ...`, `invoke ...` or `python -m invoke ...` (whose argv[0] is invoke/__main__.py)
    command = (" ".join(["inv", *sys.argv[1:]]) if sys.argv[0].endswith(("inv", "invoke", "invoke/__main__.py"))
               else "inv bench")
    if resume:
        run_dir = run_folder(resume, c.config.bench.reports)
        options = stored(run_dir)
        if any(value not in (None, False) for value in flags.values()):
            conflicts = resume_conflicts(options, resolve(c.config, flags, command))
            if conflicts:
                raise BenchError(f"--resume {run_dir} keeps the run's settings; these differ: "
                                 f"{'; '.join(conflicts)} — drop those flags or start a new run")
        run_dir = run_campaign(options, lab_config=lab, trust_new=trust_new_host, resume=run_dir)
    else:
        run_dir = run_campaign(resolve(c.config, flags, command), lab_config=lab, trust_new=trust_new_host)
    print(f"report: {run_dir / 'report.md'}")
    unclean = unclean_cells(run_dir)
    if unclean:
        raise Exit(f"{len(unclean)} cell(s) failed or were flagged ({', '.join(unclean)}): "
                   f"see {run_dir / 'report.md'}", code=SOME_CELLS_FAILED)


@task(help={"run": "the run: a folder, or a name under reports/ (e.g. 20261126-093000)"})
@exits()
def report(c, run):
    """Render reports/<run>/report.md again from results.jsonl and env.json."""
    print(reports.write(run_folder(run, c.config.bench.reports)))
