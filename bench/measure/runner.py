"""Measure cells: start a server, check its bytes, load it, stop it, keep what was measured.

One cell at a time, on a server host and a load host (both may be this machine).
Each cell's record is appended to ``results.jsonl`` before the next cell starts.
"""
from __future__ import annotations

import hashlib
import json
import shlex
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from bench import standalone
from bench.errors import BenchError, HostLost
from bench.hosts import Host
from bench.records import Cell, CellRecord, Load, LoadResult, Status, append_record
from bench.standalone import probe, server

from . import loadgen, nginx, sampling, verdicts


class CellFailed(Exception):
    """This cell could not be measured; the matrix goes on."""


@dataclass
class Rig:
    """Who plays which role, and the tools each role uses."""

    server: Host
    load: Host
    address: str  # what the load generator targets
    interpreters: dict[str, str]  # on the server host: name -> python path
    nginx: str | None
    generator: loadgen.LoadGenerator
    loadgen_binary: str
    server_cpus: int = 1


@dataclass
class Settings:
    port: int = 8080
    interface: str = "127.0.0.1"
    backlog: int = 8192
    repeats: int = 3
    warmup: dict = field(default_factory=lambda: {"duration": 1})
    server_log: bool = False
    max_repeats: int = 5  # more repeats while the spread is above cv_threshold ...
    cv_threshold: float = 0.05
    max_seconds: float = 30.0  # ... within this many seconds of measuring
    start_timeout: float = 20.0
    workdir: str = "/tmp/twisted-lab"  # on the server and load hosts


def digest(payload: int) -> str:
    return hashlib.sha256(server.payload_bytes(payload)).hexdigest()


def payload_name(payload: int) -> str:
    return f"payload-{payload}.html"


class Runner:
    """Runs cells against one lab; ``results`` is where each record is appended."""

    def __init__(self, rig: Rig, settings: Settings, run_dir: Path, say: Callable[[str], None] = print):
        self.rig = rig
        self.settings = settings
        self.run_dir = Path(run_dir)
        self.results = self.run_dir / "results.jsonl"
        self.say = say
        self.workdir = settings.workdir
        self.url = f"http://{_bracket(rig.address)}:{settings.port}/"

    # -- the run ---------------------------------------------------------------
    def prepare(self, payloads) -> None:
        """Copy the server and its payload files to the server host; the probe to the load host."""
        (self.run_dir / "logs").mkdir(parents=True, exist_ok=True)
        host = self.rig.server
        host.mkdir(f"{self.workdir}/www")
        host.run(f"chmod 755 {shlex.quote(self.workdir)} {shlex.quote(self.workdir)}/www")
        host.put(standalone.SERVER, f"{self.workdir}/server.py")
        for size in sorted(set(payloads)):
            # World-readable: nginx's workers run as nobody.
            host.write_text(f"{self.workdir}/www/{payload_name(size)}", server.payload_bytes(size).decode("ascii"), mode=0o644)
        if not self.rig.load.is_local:
            self.rig.load.put(standalone.PROBE, f"{self.workdir}/probe.py")
        busy = self._probe()
        if busy.get("connected", True):
            raise BenchError(f"port {self.settings.port} on {self.rig.address} is in use: stop what listens there or pass --port")

    def cleanup(self) -> None:
        for host in {id(self.rig.server): self.rig.server, id(self.rig.load): self.rig.load}.values():
            host.run(f"rm -rf {shlex.quote(self.workdir)}", warn=True)

    def measure(self, cell: Cell) -> CellRecord:
        """Measure one cell and append its record; a failure is recorded, not raised."""
        record = CellRecord(cell=cell, hosts={"server": str(self.rig.server), "load": str(self.rig.load)})
        began = time.monotonic()
        load_seconds = 0.0
        stopper = pid = None
        try:
            with interrupts_deferred():  # a server that started is always known, so always stopped
                pid, stopper, log = self._start(cell, record)
            record.verify = self._wait_ready(cell, pid, log)
            record.timing = {"start_verify": round(time.monotonic() - began, 3)}
            for result in self._warm_up(cell, pid):
                load_seconds += result.seconds
                record.runs.append(result)
            record.warmup_rounds = len(record.runs)
            for result in self._repeats(cell, pid):
                load_seconds += result.seconds
                record.runs.append(result)
                if not result.clean:
                    record.flag(_unclean(result))
            record.verdicts = self._verdicts(cell, record)
        except CellFailed as exc:
            record.fail(str(exc))
        except (KeyboardInterrupt, HostLost) as exc:
            # Not the cell's fault (Ctrl-C, a lost connection): kept, and measured again on --resume.
            record.interrupt(str(exc) or "interrupted by Ctrl-C")
            raise
        finally:
            with interrupts_deferred():  # a second Ctrl-C must not leave the server running
                stopping = time.monotonic()
                try:
                    self._stop(cell, record, pid, stopper)
                except HostLost:
                    try:  # one more try, so nothing is left running there
                        self.rig.server.reconnect()
                        self._stop(cell, record, pid, stopper)
                    except BenchError as exc:
                        record.reasons.append(f"could not stop the server: {exc}")
                except BenchError as exc:
                    record.reasons.append(f"while stopping: {exc}")
                ended = time.monotonic()
                record.timing.update(stop=round(ended - stopping, 3), total=round(ended - began, 3),
                                     load=round(load_seconds, 3), overhead=round(ended - began - load_seconds, 3))
                append_record(self.results, record)
        return record

    # -- servers ---------------------------------------------------------------
    def _stop(self, cell: Cell, record: CellRecord, pid, stopper) -> None:
        if stopper is not None:
            if record.status in (Status.OK, Status.FLAGGED) and not self.rig.server.alive(pid):
                record.flag(f"{cell.label} exited during the run on {self.rig.server}")
            stopper()
        self._collect(cell, record)

    def _start(self, cell: Cell, record: CellRecord):
        host, s = self.rig.server, self.settings
        log = f"{self.workdir}/logs/{cell.id}.log"
        if cell.server == "nginx":
            if not self.rig.nginx:
                raise CellFailed(f"nginx is not installed on {host}: run `inv setup`")
            confdir = f"{self.workdir}/nginx-{cell.id}"
            conf = f"{confdir}/nginx.conf"
            host.write_text(conf, nginx.render_config(
                workdir=confdir, www=f"{self.workdir}/www", filename=payload_name(cell.payload),
                interface=s.interface, port=s.port, backlog=s.backlog, workers=cell.workers,
                connections=max(1024, cell.concurrency + 64)))
            try:
                pid = nginx.start(host, self.rig.nginx, conf, confdir)
            except BenchError as exc:
                raise CellFailed(str(exc)) from None
            record.server_command = f"{self.rig.nginx} -c {conf}"
            return pid, lambda: nginx.stop(host, self.rig.nginx, conf, confdir, pid), f"{confdir}/error.log"
        python = self.rig.interpreters.get(cell.interpreter)
        if not python:
            raise CellFailed(f"no {cell.interpreter} environment on {host}: run `inv setup`")
        argv = [python, f"{self.workdir}/server.py", "--port", str(s.port), "--interface", s.interface,
                "--backlog", str(s.backlog), "--mode", cell.mode, "--workers", str(cell.workers),
                "--resource", cell.resource, "--payload", str(cell.payload),
                "--file", f"{self.workdir}/www/{payload_name(cell.payload)}"]
        if s.server_log:
            argv.append("--log")
        record.server_command = " ".join(shlex.quote(a) for a in argv)
        try:
            pid = host.start(argv, log=log)
        except HostLost:
            raise
        except BenchError as exc:
            raise CellFailed(str(exc)) from None
        return pid, lambda: host.stop(pid), log

    def _wait_ready(self, cell: Cell, pid: int, log: str) -> dict:
        """Poll until the server answers from the load host, then check its bytes."""
        host = self.rig.server
        deadline = time.monotonic() + self.settings.start_timeout
        answer: dict = {}
        while time.monotonic() < deadline:
            if not host.alive(pid):
                raise CellFailed(f"{cell.label} exited at start on {host}: {self._tail(log)}")
            if cell.server == "twisted" and not _listening(host, log):
                time.sleep(0.05)
                continue
            answer = self._probe()
            if "error" not in answer:
                break
            time.sleep(0.05)
        else:
            raise CellFailed(f"{cell.label} did not answer {self.url} within {self.settings.start_timeout:g}s "
                             f"({answer.get('error', 'no listening event')}): {self._tail(log)}")
        expected = {"status": 200, "length": cell.payload, "sha256": digest(cell.payload)}
        wrong = [f"{key} {answer.get(key)!r} (expected {value!r})" for key, value in expected.items() if answer.get(key) != value]
        if answer.get("headers", {}).get("content-length") != str(cell.payload):
            wrong.append(f"Content-Length {answer.get('headers', {}).get('content-length')!r} (expected '{cell.payload}')")
        if wrong:
            raise CellFailed(f"{cell.label} served the wrong answer: {'; '.join(wrong)}")
        return {key: answer[key] for key in ("status", "length", "sha256")}

    def _probe(self) -> dict:
        if self.rig.load.is_local:
            return probe.fetch(self.url, timeout=2.0)
        out = self.rig.load.run(f"python3 {self.workdir}/probe.py {shlex.quote(self.url)}", warn=True).stdout
        try:
            return json.loads(out)
        except json.JSONDecodeError:
            return {"error": f"probe on {self.rig.load} printed {out.strip()[:80]!r}"}

    def _tail(self, log: str, lines: int = 5) -> str:
        text = self.rig.server.run(f"tail -n {lines} {shlex.quote(log)}", warn=True).stdout.strip()
        return " | ".join(text.splitlines()) or "no output"

    def _collect(self, cell: Cell, record: CellRecord) -> None:
        """Bring the server's log (and Nginx's config) home and read its per-worker request counts."""
        logs = self.run_dir / "logs"
        local = logs / f"{cell.id}-{cell.label.replace('/', '-')}.log"
        copies = {f"{self.workdir}/logs/{cell.id}.log": local}
        if cell.server == "nginx":
            confdir = f"{self.workdir}/nginx-{cell.id}"
            copies = {f"{confdir}/error.log": local, f"{confdir}/nginx.conf": logs / f"{cell.id}-nginx.conf"}
        try:
            for source, target in copies.items():
                if self.rig.server.exists(source):
                    self.rig.server.get(source, target)
        except BenchError:
            return
        record.server_log = str(local.relative_to(self.run_dir)) if local.exists() else None
        if cell.server == "nginx" and (logs / f"{cell.id}-nginx.conf").exists():
            record.server_config = f"logs/{cell.id}-nginx.conf"
        if cell.server == "twisted" and local.exists():
            events = server.read_events(local.read_text())
            record.workers = {str(k): v for k, v in server.worker_counts(events).items()}
            record.spread = verdicts.spread(record.workers)
            deaths = [e for e in events if e.get("event") == "worker-died"]
            if deaths:
                record.flag(f"{len(deaths)} worker(s) died: "
                            + ", ".join(f"pid {e.get('pid')} status {e.get('status')}" for e in deaths))

    # -- load --------------------------------------------------------------------
    def _warm_up(self, cell: Cell, pid: int):
        """Discarded rounds until req/s stops rising (capped in rounds and time)."""
        warmup = self.settings.warmup
        if warmup_load(cell.load(self.url), warmup) is None:
            return
        rates: list[float] = []
        began = time.monotonic()
        while True:
            result = self._sampled(cell, pid, warmup=True)
            rates.append(result.req_per_s)
            yield result
            if len(rates) >= warmup.get("max_rounds", 5) or time.monotonic() - began >= warmup.get("max_seconds", 30):
                return
            if verdicts.warmed_up(rates, warmup.get("tolerance", 0.05)):
                return

    def _repeats(self, cell: Cell, pid: int):
        """The measured runs: ``repeats`` of them, more while the spread stays high (capped)."""
        s = self.settings
        rates: list[float] = []
        began = time.monotonic()
        while len(rates) < s.repeats or (
            verdicts.noisy(rates, s.cv_threshold) and len(rates) < s.max_repeats
            and time.monotonic() - began < s.max_seconds
        ):
            result = self._sampled(cell, pid, warmup=False)
            rates.append(result.req_per_s)
            yield result

    def _sampled(self, cell: Cell, pid: int, warmup: bool) -> LoadResult:
        """One load run; a measured one with the CPU use of server and load generator."""
        if warmup:
            return self._load(cell, warmup)
        window = sampling.Window(self.rig.server, pid)
        result = self._load(cell, warmup)
        result.sample = window.close(result.cpu_s)
        return result

    def _verdicts(self, cell: Cell, record: CellRecord) -> list[str]:
        found = []
        runs = record.measured
        if verdicts.noisy([run.req_per_s for run in runs], self.settings.cv_threshold):
            found.append("noisy")
        warm = [run.req_per_s for run in record.runs if run.warmup]
        if warm and len(warm) >= self.settings.warmup.get("max_rounds", 5) and not verdicts.warmed_up(warm, self.settings.warmup.get("tolerance", 0.05)):
            found.append("warm-up unstable")
        samples = [run.sample for run in runs if "loadgen_cores" in (run.sample or {})]
        if samples:
            bound = [verdicts.client_bound(loadgen_cores=x["loadgen_cores"], threads=cell.threads,
                                           server_cores=x["server_cores"], workers=cell.workers,
                                           server_cpus=self.rig.server_cpus,
                                           same_host=self.rig.server is self.rig.load) for x in samples]
            if sum(bound) * 2 > len(bound):
                found.append("client-bound")
        return found

    def _load(self, cell: Cell, warmup: bool) -> LoadResult:
        load = cell.load(self.url)
        if warmup:
            load = warmup_load(load, self.settings.warmup)
        budget = (load.duration or 0) * 3 + (load.requests or 0) / 2000 + 30  # generous: ≥ 2k req/s
        try:
            result = loadgen.run(self.rig.load, self.rig.generator, self.rig.loadgen_binary, load, timeout=budget)
        except HostLost:
            raise
        except BenchError as exc:
            raise CellFailed(str(exc)) from None
        result.warmup = warmup
        return result


def warmup_load(load: Load, warmup: dict) -> Load | None:
    """The discarded load before a cell's measured runs: its concurrency, the warm-up's size; None for none."""
    if not (warmup.get("requests") or warmup.get("duration")):
        return None
    return replace(load, requests=warmup.get("requests"), duration=warmup.get("duration"))


@contextmanager
def interrupts_deferred():
    """Hold Ctrl-C until the block is done, then raise it: for starting and stopping servers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = []
    previous = signal.signal(signal.SIGINT, lambda number, frame: caught.append(number))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


def _listening(host: Host, log: str) -> bool:
    try:
        text = host.read_text(log)
    except (OSError, BenchError):
        return False
    return any(event.get("event") == "listening" for event in server.read_events(text))


def _unclean(result: LoadResult) -> str:
    return (f"{result.tool}: {result.succeeded} succeeded, {result.failed} failed, "
            f"{result.errored} errored, {result.non_2xx} non-2xx")


def _bracket(address: str) -> str:
    return f"[{address}]" if ":" in address else address
