"""A benchmark campaign: plan the matrix, set up the lab, measure every cell, write the report.

This is where the pieces meet; each piece stays ignorant of the others.
"""
from __future__ import annotations

import json
import os
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import environment, loadgen, matrix, nginx, provision, report
from .errors import BenchError
from .hosts import Host, LocalHost
from .runner import Lab, Runner, Settings

PROJECT = Path(__file__).resolve().parent.parent


@dataclass
class Options:
    """Everything a campaign needs, resolved from invoke.yaml and the flags."""

    servers: tuple = ("nginx", "twisted")
    interpreters: tuple = ("pypy", "cpython")
    modes: tuple = ("shared",)
    resources: tuple = ("fixed", "file")
    payloads: tuple = (40, 10000)
    keepalive: tuple = (True, False)
    workers: tuple = ()  # empty: the server host's CPU count
    repeats: int = 3
    loadgen: str | None = None
    profile_name: str = "default"
    profile: dict = field(default_factory=dict)
    port: int = 8080
    interface: str = "127.0.0.1"
    backlog: int = 8192
    server_log: bool = False
    reports: str = "reports"
    name: str | None = None
    prefix: str = "~/.twisted-lab"
    command: str = "inv bench"


def raise_nofile(needed: int) -> int:
    """Raise this process's open-file limit (children inherit it) to ``needed``."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return soft
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise BenchError(f"the open-file hard limit is {hard}, the load needs {needed}: "
                         f"run `inv tune` (then log in again), or lower the concurrency")
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    return needed


def find_interpreters(host: Host, prefix: str) -> dict[str, str]:
    """The Python environments `inv setup` made; this harness's own CPython stands in locally."""
    found = provision.interpreters(host, prefix)
    if "cpython" not in found and host.is_local:
        found["cpython"] = sys.executable
    return found


def run_campaign(options: Options, say: Callable[[str], None] = print) -> Path:
    """Measure the matrix; return the run folder (its report is written even when interrupted)."""
    server_host = load_host = LocalHost()
    address = options.interface

    generator, binary = loadgen.detect(load_host, options.loadgen, _tool_dirs(load_host, options.prefix))
    interpreters = find_interpreters(server_host, options.prefix)
    wanted = set(options.interpreters) if "twisted" in options.servers else set()
    for name in sorted(wanted - set(interpreters)):
        say(f"note: no {name} environment on {server_host}: its Twisted cells are skipped (run `inv setup`)")
    interpreters_used = tuple(i for i in options.interpreters if i in interpreters)
    servers = options.servers
    if "twisted" in servers and not interpreters_used:
        if servers == ("twisted",):
            raise BenchError("no Python environment with Twisted was found: run `inv setup`")
        servers = tuple(s for s in servers if s != "twisted")
    nginx_binary = nginx.find(server_host) if "nginx" in servers else None

    cells = matrix.plan(
        servers=servers, interpreters=interpreters_used, modes=options.modes, resources=options.resources,
        payloads=options.payloads, keepalive=options.keepalive,
        workers=options.workers or (os.cpu_count() or 1,), loadgen=generator.name, profile=options.profile,
    )
    raise_nofile(max(c.concurrency for c in cells) * 2 + 1024)

    run_dir = Path(options.reports) / (options.name or time.strftime("%Y%m%d-%H%M%S"))
    if (run_dir / "results.jsonl").exists():
        raise BenchError(f"{run_dir} already holds results: pick another --name")
    run_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings(port=options.port, interface=options.interface, backlog=options.backlog,
                        repeats=options.repeats, warmup=dict(options.profile.get("warmup") or {}),
                        server_log=options.server_log, workdir=f"/tmp/twisted-lab-{run_dir.name}")
    lab = Lab(server=server_host, load=load_host, address=address, interpreters=interpreters,
              nginx=nginx_binary, generator=generator, loadgen_binary=binary)
    env = {
        "run": run_dir.name,
        "started": environment.now_utc(),
        "command": options.command,
        "git": environment.git_commit(PROJECT),
        "settings": {"profile": options.profile_name, "load": options.profile, "repeats": options.repeats,
                     "loadgen": generator.name, "port": options.port, "backlog": options.backlog,
                     "server_log": options.server_log},
        "hosts": [environment.capture_host(server_host, role="server+load", interpreters=interpreters,
                                           nginx=nginx_binary,
                                           loadgen={"tool": generator.name, "path": binary,
                                                    "version": loadgen.version(load_host, binary)},
                                           nofile=resource.getrlimit(resource.RLIMIT_NOFILE)[0])],
    }
    (run_dir / "env.json").write_text(json.dumps(env, indent=2, sort_keys=True) + "\n")

    runner = Runner(lab, settings, run_dir, say=say)
    say(f"{len(cells)} cells, {generator.name} as load generator, results in {run_dir}/")
    try:
        runner.prepare(options.payloads)
        for number, cell in enumerate(cells, 1):
            record = runner.measure(cell)
            say(f"[{number}/{len(cells)}] {progress_line(record)}")
    except KeyboardInterrupt:
        say(f"interrupted: the cells measured so far are kept in {run_dir}/results.jsonl")
        raise
    finally:
        runner.cleanup()
        if (run_dir / "results.jsonl").exists():
            report.write(run_dir)
    return run_dir


def progress_line(record: dict) -> str:
    cell = record["cell"]
    words = f"{record['label']} {cell['payload']}B {'keep-alive' if cell['keepalive'] else 'close'} ×{cell['workers']}"
    summary = report.req_per_s(record)
    if record["status"] == "failed" or not summary:
        return f"{words}: FAILED — {'; '.join(record['reasons'])}"
    flag = f" ({record['status']}: {'; '.join(dict.fromkeys(record['reasons']))})" if record["status"] != "ok" else ""
    return (f"{words}: {summary.median:,.0f} req/s ({summary.low:,.0f}–{summary.high:,.0f}), "
            f"harness overhead {record['timing']['overhead']:.1f}s{flag}")


def _tool_dirs(host: Host, prefix: str) -> list[str]:
    return [f"{host.expand(prefix)}/bin"]
