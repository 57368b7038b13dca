"""Helpers the tests share: free ports and real runs made the way `inv bench` makes them."""
import random
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import psutil
import pytest
import twisted
from invoke import Config

from bench.config import plain
from bench.hosts import LocalHost
from bench.measure import matrix, servers
from bench.measure.servers.twisted import Environments
from bench.measure.campaign import run_campaign
from bench.measure.loading import combined
from bench.measure.loadgens.weighttp import Weighttp05
from bench.measure.options import Options, resolve
from bench.measure.runner import Settings
from bench.measure.sampling import CpuTicks, Placement, Reading, run_sample
from bench.records import Cell, CellRecord, LoadResult, Status, Variant, append_record, write_env
from bench.standalone.events import read_events
from bench.standalone.payload import payload_bytes

PROJECT = Path(__file__).resolve().parents[1]

# Short loads: one-second runs of wrk, no warm-up (its rule, but no requests or duration).
TINY = {"keepalive": {"duration": 1, "concurrency": 8, "threads": 1},
        "close": {"duration": 1, "concurrency": 4, "threads": 1},
        "warmup": {"tolerance": 0.05, "max_rounds": 1, "max_seconds": 1}}


def free_port(count: int = 2) -> int:
    """The first of ``count`` free ports in a row (a paired case's servers take the ports after --port),
    below the ephemeral range, so no client connection of the tests takes one meanwhile."""
    rng = random.Random()
    for _ in range(200):
        first = rng.randrange(20000, 32000 - count)
        try:
            for port in range(first, first + count):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return first
    raise RuntimeError("no free ports between 20000 and 32000")


class BarePathHost(LocalHost):
    """This machine with PATH cut down to one folder: only what a test put there is installed on it."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def run(self, command, **kwargs):
        return super().run(f"PATH={shlex.quote(self.path)}; {command}", **kwargs)

    def begin(self, command):
        return super().begin(f"PATH={shlex.quote(self.path)}; {command}")


def start_twisted(tmp_path: Path) -> tuple[int, str]:
    """The project's real Twisted server (one process, the fixed 40-byte body) on loopback: (pid, URL)."""
    host, port = LocalHost(), free_port(1)
    pid = host.start([sys.executable, str(PROJECT / "bench" / "standalone" / "server.py"), "--port", str(port),
                      "--interface", "127.0.0.1", "--backlog", "4096", "--mode", "single", "--workers", "1",
                      "--resource", "fixed", "--payload", "40", "--file", "unused"], str(tmp_path / "twisted.log"))
    wait_accepting(port, lambda: host.alive(pid), "the Twisted server")
    return pid, f"http://127.0.0.1:{port}/"


# A broken server, written here because no real one misbehaves on demand: it reads the requests of one
# connection, then writes the answers ``reply`` makes of them, and closes.
def broken_server(reply) -> tuple[str, threading.Thread]:
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        with listener:
            connection, _ = listener.accept()
            with connection:
                data = b""
                while b"Connection: close\r\n\r\n" not in data:
                    data += connection.recv(65536)
                methods = [line.split()[0].decode() for line in data.split(b"\r\n") if b"HTTP/1.1" in line]
                connection.sendall(b"".join(reply(methods)))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}/", thread


def answer(method: str, status: int = 200, body: bytes = payload_bytes(40)) -> bytes:
    head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    return head + (body if method == "GET" else b"")


def wait_accepting(port: int, alive, what: str, timeout: float = 20.0, log: Path | None = None) -> None:
    """Wait until something accepts TCP connections on loopback ``port``; fail the test, naming ``what``
    (and quoting ``log``), if ``alive()`` turns false first or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            pytest.fail(f"{what} exited before it listened" + (f": {log.read_text()}" if log else ""))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"{what} did not listen on {port} within {timeout:g} s")


def project_config() -> Config:
    """The project's invoke.yaml, loaded as `inv` loads it."""
    config = Config(project_location=str(PROJECT))
    config.load_project()
    return config

MIRROR_VARIABLE = "BENCH_TEST_MIRROR"


def wrk2_archive_problem(mirror: str | None) -> str | None:
    """Why real wrk2 cannot be built here, as a skip reason that says how to make it build; None when it can."""
    archive = plain(project_config().setup.wrk2.releases)[str(project_config().setup.wrk2.version)]["file"]
    how = f"set {MIRROR_VARIABLE} to a folder holding {archive} (giltene/wrk2's archive of the pinned commit)"
    if not mirror:
        return f"real wrk2: no source archive ({MIRROR_VARIABLE} is not set): {how}"
    if not (Path(mirror) / archive).is_file():
        return f"real wrk2: {mirror} lacks {archive}: {how}"
    return None



def options(**flags) -> Options:
    """A run's options as `inv bench` resolves them from these flags and the project's invoke.yaml."""
    return resolve(project_config(), flags)


def bench_run(reports: Path, name: str, *, workers=(1,), repeats: int = 2, servers=("nginx", "twisted"),
              order: str = "paired") -> Path:
    """A real run folder: Nginx and Twisted (CPython, fixed), 40 bytes, keep-alive, measured by wrk."""
    chosen = replace(options(servers=",".join(servers), interpreters="cpython", modes="shared", resources="fixed",
                             payloads="40", keepalive=True, workers=",".join(map(str, workers)), loadgen="wrk",
                             order=order, port=free_port(), name=name),
                     repeats=repeats, profile=TINY, reports=str(reports),
                     statistics={"max_repeats": repeats, "ci_target": 0.05, "max_seconds": 30, "cv_threshold": 0.05,
                                 "min_rounds": 6})
    return run_campaign(chosen, say=lambda line: None)


def settings(tmp_path: Path, **change) -> Settings:
    """Runner settings for one quick cell: one measured round, no warm-up; the runner makes its own work folder."""
    base = dict(port=free_port(), interface="127.0.0.1", backlog=511, server_log=False, repeats=1, max_repeats=1,
                ci_target=0.05, min_rounds=6, max_seconds=30, cv_threshold=0.05, warmup={}, work_name="test",
                server_cpus=(), load_cpus=(), baseline="nginx", start_timeout=5)
    return Settings(**{**base, **change})


# This harness's own Twisted, which its CPython runs: the version of a Twisted cell the tests plan.
HARNESS_TWISTED = twisted.__version__


def environments(**pythons) -> Environments:
    """Twisted's environments on this machine: interpreter -> python, each with this harness's Twisted."""
    return Environments(pythons={(name, HARNESS_TWISTED): python for name, python in pythons.items()})


def twisted_cell(mode: str = "shared", resource: str = "fixed", workers: int = 2, **change) -> matrix.Cell:
    """One cell: Twisted on CPython, shared socket, 2 workers, fixed 40 bytes, keep-alive, tiny load."""
    variant = Variant(interpreter="cpython", mode=mode, resource=resource, twisted=HARNESS_TWISTED)
    settings = dict(servers=[(servers.kind("twisted"), [variant])], payloads=(40,), keepalive=(True,),
                    workers=(workers,), loadgen="wrk", profile=TINY)
    (cell,) = matrix.plan(**{**settings, **change})
    return cell


def nginx_cell(workers: int = 2, **change) -> matrix.Cell:
    """One cell: Nginx, 2 workers, its 40-byte file, keep-alive, tiny load."""
    (cell,) = matrix.plan(**{**dict(servers=[(servers.kind("nginx"), [Variant()])], payloads=(40,), keepalive=(True,),
                                    workers=(workers,), loadgen="wrk", profile=TINY), **change})
    return cell


def once_listening(log: Path, delay: float, act) -> threading.Thread:
    """Start a thread that waits for the server's "listening" event in ``log``, then ``delay``
    seconds more (the load is running by then), then calls ``act(events)``."""
    def wait():
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            events = read_events(log.read_text()) if log.exists() else []
            if any(e["event"] == "listening" for e in events):
                time.sleep(delay)
                act(events)
                return
            time.sleep(0.02)

    thread = threading.Thread(target=wait)
    thread.start()
    return thread


# -- constructed records, for the report and compare -------------------------------------

def constructed_record(server, workers, rates, status="ok", payload=40, keepalive=True, verdicts=(),
                       variant=None) -> CellRecord:
    """A record as the runner would write it: one warm-up, then a measured run per rate. A server other than
    Nginx runs on PyPy, shared socket, fixed resource, unless ``variant`` says otherwise."""
    if variant is None:
        variant = {} if server == "nginx" else {"interpreter": "pypy", "mode": "shared", "resource": "fixed"}
    cell = Cell(server=server, variant=variant, workers=workers, payload=payload, keepalive=keepalive,
                loadgen="wrk", concurrency=10, threads=1, duration=1.0)
    runs = [LoadResult(tool="wrk", command="wrk", seconds=1.0, req_per_s=1.0, kbyte_per_s=1.0, warmup=True)]
    runs += [LoadResult(tool="wrk", command="wrk", seconds=1.0, req_per_s=rate, kbyte_per_s=rate / 10,
                        succeeded=int(rate), status={"2xx": int(rate)}) for rate in rates]
    return CellRecord(cell=cell, status=Status(status), reasons=[] if status == "ok" else ["constructed"],
                      runs=runs, verdicts=list(verdicts))


def sweep_step(offered, achieved=None, p99=1000.0, saturated=False, round_number=0, **change) -> LoadResult:
    """One step of a fixed-rate sweep as the runner keeps it: ``achieved`` req/s (the offered rate by default),
    its corrected p99 in us (p50 a quarter of it, p99.9 twice), the sample's CPU and saturation."""
    achieved = offered if achieved is None else achieved
    base = dict(tool="wrk2", command=f"wrk2 -c 200 -t 1 -d 13s -R {offered:.0f} URL", seconds=13.0, req_per_s=achieved,
                kbyte_per_s=1.0, succeeded=int(achieved * 13), requests_done=int(achieved * 13),
                status={"2xx": int(achieved * 13), "other": 0}, latency_us={"p50": p99 / 4, "p99": p99, "p99.9": p99 * 2},
                uncorrected_us={"p50": p99 / 8, "p99": p99 / 2}, offered_per_s=float(offered), round=round_number,
                sample={"saturated": saturated, "loadgen_cores": 0.95 if saturated else 0.5, "server_cores": 0.8,
                        "server_rss_mb": 30.0, "wall_s": 13.2})
    return LoadResult(**{**base, **change})


def swept_record(server, rates, steps, status="ok", workers=2) -> CellRecord:
    """A constructed record (:func:`constructed_record`) with its sweep's steps."""
    record = constructed_record(server, workers, rates, status=status)
    record.sweep = list(steps)
    return record


def write_run(run_dir: Path, records, env=None) -> Path:
    """A run folder holding ``records`` and ``env`` (by default one that names the run)."""
    run_dir.mkdir()
    for record in records:
        append_record(run_dir / "results.jsonl", record)
    write_env(run_dir / "env.json", env if env is not None else {"run": run_dir.name})
    return run_dir


def load_host_part(host, rate, done=None, p50=1000.0, p99=5000.0, cores=0.5, saturated=False, concurrency=100,
                   threads=1, round=None) -> LoadResult:
    """One load host's run of a round, as the runner keeps it in the combined run's parts."""
    done = int(rate) if done is None else done
    return LoadResult(tool="wrk", command=f"wrk -c {concurrency} -t {threads}", seconds=1.0, req_per_s=rate,
                      kbyte_per_s=rate / 10, requests_done=done, succeeded=done, status={"2xx": done},
                      latency_us={"p50": p50, "p90": (p50 + p99) / 2, "p99": p99}, cpu_s=cores, host=host,
                      round=round, sample={"loadgen_cores": cores, "concurrency": concurrency, "threads": threads,
                                           "saturated": saturated})


def several_hosts_record(server, workers, rounds, status="ok", verdicts=(), payload=40, keepalive=True,
                         concurrency=200, threads=1, server_cores=1.0) -> CellRecord:
    """A record measured by several load hosts: ``rounds`` is a list of each round's parts
    (:func:`load_host_part`); each measured run is their ``loading.combined``, with the server's sample."""
    record = constructed_record(server, workers, [], status=status, payload=payload, keepalive=keepalive,
                                verdicts=verdicts)
    record.cell = replace(record.cell, concurrency=concurrency, threads=threads)
    for number, parts in enumerate(rounds):
        parts = [replace(part, round=number) for part in parts]
        run = combined(parts)
        run.sample = {"server_cores": server_cores, "server_rss_mb": 50.0,
                      "loadgen_cores": sum(part.sample["loadgen_cores"] for part in parts)}
        record.runs.append(run)
    record.hosts = {"server": "root@10.200.5.2:2222", "load": ", ".join(dict.fromkeys(p.host for p in rounds[0]))}
    return record


# -- spies: real commands on PATH that record what they were given ------------------------

def spied_environment(folder: Path, commands, env: dict) -> tuple[dict, Path]:
    """``env`` with a folder of spies first on its PATH, one per name in ``commands``: each appends
    "spy NAME" and its whole environment to the returned log, then runs the real command."""
    spies, log = folder / "spies", folder / "spies.log"
    spies.mkdir()
    printenv = shutil.which("env", path=env["PATH"])  # by its path: `env` may be spied on itself
    for name in commands:
        spy = spies / name
        spy.write_text(f"#!/bin/sh\n{{ echo 'spy {name}'; {printenv}; }} >>'{log}'\n"
                       f"PATH='{env['PATH']}' exec {name} \"$@\"\n")
        spy.chmod(0o755)
    return {**env, "PATH": f"{spies}:{env['PATH']}"}, log


# -- process groups, as the harness starts its servers ---------------------------------

def group_of(leader: int) -> list[int]:
    """The processes of the group ``leader`` leads (a server: its master and workers)."""
    return [int(pid) for pid in subprocess.run(["pgrep", "-g", str(leader)], capture_output=True, text=True).stdout.split()]


def alive(process: psutil.Process | int) -> bool:
    """Whether it runs (a zombie does not); a psutil Process is one at its own start time, never a reused pid."""
    try:
        process = process if isinstance(process, psutil.Process) else psutil.Process(process)
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def setsid_group(command: str = "sleep 60 & exec sleep 61") -> subprocess.Popen:
    """A group in a session of its own, of two processes: by default a sleep and its child."""
    leader = subprocess.Popen(["sh", "-c", command], start_new_session=True)
    deadline = time.monotonic() + 5
    while len(group_of(leader.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(group_of(leader.pid)) == 2, f"{command!r} did not make a group of two"
    return leader

# -- measured runs sampled as run_round samples them, for the verdicts and the report ---------------

LOADGEN_FIXTURES = PROJECT / "tests" / "measure" / "fixtures" / "loadgen"
TIMED_WEIGHTTP = LOADGEN_FIXTURES / "weighttp-0.5-a-before-count.stdout"


def check_parsed(generator, fixture: str, fields: dict, latency: dict, clean: bool) -> LoadResult:
    """A recorded output (fixtures/loadgen/) parsed by ``generator``: each field and percentile as read off the
    file, clean or not, and the whole output kept."""
    text = (LOADGEN_FIXTURES / fixture).read_text()
    result = generator.parse(text, "the command")
    for name, expected in fields.items():
        assert getattr(result, name) == pytest.approx(expected), name
    for key, expected in latency.items():
        assert result.latency_us[key] == pytest.approx(expected), key
    assert result.clean is clean
    assert (result.tool, result.command, result.raw) == (generator.name, "the command", text)
    return result


def check_no_success(result: LoadResult) -> None:
    """Every answer a 404: the tool's own rate looks great, and the verdict says it counts for nothing."""
    assert result.req_per_s > 1000
    assert result.succeeded == 0 and result.failed == result.requests_done == result.non_2xx > 0
    assert not result.clean
TICKS = 1_000_000  # clock ticks per second of the constructed readings: fine, so no CPU second is lost to rounding


def machine_reading(server_cpu_s: float, busy_s, steal_s: float, cpus: int) -> Reading:
    """The server's machine as /proc shows it: ``busy_s`` each CPU's (a list) or the machine's, spread
    evenly on its CPUs like ``steal_s``."""
    per_cpu = busy_s if isinstance(busy_s, list) else [busy_s / cpus] * cpus

    def ticks(seconds: float) -> int:
        return round(seconds * TICKS)

    return Reading(server_cpu_s=server_cpu_s, server_rss=50 * 2**20, server_processes=2, ticks=TICKS,
                   cpus={cpu: CpuTicks(busy=ticks(busy), steal=ticks(steal_s / cpus), idle=0)
                         for cpu, busy in enumerate(per_cpu)})


# --server-cpus 1 --load-cpus 0 on a 2-CPU machine, the load generator there too
PINNED_PLACEMENT = Placement(server_cpus=(1,), load_cpus=(0,), colocated=(True,), harness_here=True)


def sampled_run(*, server: float, loadgen: float | list[float], busy, steal: float = 0.0, cpus: int = 2,
                harness: float = 0.01, colocated=(True,), placement: Placement | None = None) -> LoadResult:
    """A real timed weighttp 0.5 run (its recorded output) sampled as run_round samples it, from the cores
    each side used over its seconds and the server machine's busy and steal cores (busy holds the
    server, co-located load generators, the harness and any other process; a list gives each CPU's).
    ``loadgen`` is a list with several load hosts, each with its share of the run."""
    run = Weighttp05().parse(TIMED_WEIGHTTP.read_text(), "weighttp -n 2000000 -a 1 -c 10 -t 1 -k URL")
    seconds = run.seconds
    hosts = loadgen if isinstance(loadgen, list) else [loadgen]
    if len(hosts) > 1:
        parts = [replace(run, host=f"load{index}", cpu_s=cores * seconds,
                         sample={"loadgen_cores": cores, "threads": 1, "saturated": cores >= 0.9})
                 for index, cores in enumerate(hosts, 1)]
        run = combined(parts)
    run.cpu_s = sum(hosts) * seconds
    scaled = [value * seconds for value in busy] if isinstance(busy, list) else busy * seconds
    run.sample = run_sample(machine_reading(0.0, [0.0] * cpus, 0.0, cpus),
                            machine_reading(server * seconds, scaled, steal * seconds, cpus),
                            placement or Placement(colocated=tuple(colocated), harness_here=True),
                            seconds=seconds, wall=seconds + 0.1, harness_cpu_s=harness * seconds,
                            loadgen_cpu_s=[cores * seconds for cores in hosts])
    return run


def sampled_record(server: str, runs: list[LoadResult], workers: int = 1, threads: int = 1,
                   payload: int = 40) -> CellRecord:
    """A cell measured in rounds, one sampled run each (:func:`sampled_run`), after one warm-up."""
    record = constructed_record(server, workers, [], payload=payload)
    record.cell = replace(record.cell, loadgen="weighttp-0.5", threads=threads)
    record.group = "sampled"
    for number, run in enumerate(runs):
        run.round = number
        record.runs.append(run)
    return record
