"""One server under test on the server host: start it, check its bytes, stop it by pid, bring its log home.

Twisted runs the shipped ``server.py`` with every flag given here; Nginx runs a config
rendered for the cell. Each server of a case has a port of its own, so all of them can
be up at once and loaded in turn.
"""
from __future__ import annotations

import hashlib
import json
import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from bench.errors import BenchError, HostLost
from bench.hosts import Host
from bench.records import Cell, CellRecord, Status
from bench.standalone import probe
from bench.standalone.events import read_events, worker_counts
from bench.standalone.payload import payload_bytes

from . import nginx, verdicts
from .cpus import format_cpus
from .loading import Loader


class CellFailed(Exception):
    """This cell could not be measured; the matrix goes on."""


@dataclass
class Rig:
    """Who plays which role, and the tools each role uses."""

    server: Host
    loaders: tuple[Loader, ...]  # the load hosts, each with its load generator; they share each load
    address: str  # what the load generators target
    interpreters: dict[str, str]  # on the server host: name -> python path
    nginx: str | None
    server_cpus: int

    @property
    def load(self) -> Host:
        """The first load host: it probes the servers."""
        return self.loaders[0].host

    @property
    def same_host(self) -> bool:
        """Server and load generator on one machine."""
        return any(loader.host is self.server for loader in self.loaders)


@dataclass
class Running:
    """A started server: where it answers, and how to stop it."""

    cell: Cell
    port: int
    url: str
    pid: int | None = None
    log: str = ""
    stop: Callable[[], None] | None = None
    stopped: bool = False


def digest(payload: int) -> str:
    return hashlib.sha256(payload_bytes(payload)).hexdigest()


def payload_name(payload: int) -> str:
    return f"payload-{payload}.html"


def bracket(address: str) -> str:
    return f"[{address}]" if ":" in address else address


class Servers:
    """Starts, checks and stops the servers of a run in its work folder on the server host."""

    def __init__(self, rig: Rig, *, workdir: str, run_dir: Path, interface: str, backlog: int,
                 server_log: bool, start_timeout: float, cpus: tuple[int, ...] = ()):
        self.rig, self.workdir, self.run_dir = rig, workdir, Path(run_dir)
        self.interface, self.backlog, self.server_log, self.start_timeout = interface, backlog, server_log, start_timeout
        self.cpus = cpus  # each worker pinned to one of these
        self.probe_path = ""  # on a remote load host, where the runner put the probe

    def url(self, port: int) -> str:
        return f"http://{bracket(self.rig.address)}:{port}/"

    # -- start -------------------------------------------------------------------------
    def start(self, cell: Cell, port: int, record: CellRecord) -> Running:
        """Start the cell's server on ``port``; CellFailed when it cannot start."""
        running = Running(cell=cell, port=port, url=self.url(port))
        host = self.rig.server
        running.log = f"{self.workdir}/logs/{cell.id}.log"
        if cell.server == "nginx":
            if not self.rig.nginx:
                raise CellFailed(f"nginx is not installed on {host}: run `inv setup`")
            confdir = f"{self.workdir}/nginx-{cell.id}"
            conf = f"{confdir}/nginx.conf"
            host.write_text(conf, nginx.render_config(
                workdir=confdir, www=f"{self.workdir}/www", filename=payload_name(cell.payload),
                interface=self.interface, port=port, backlog=self.backlog, workers=cell.workers,
                connections=max(1024, cell.concurrency + 64), cpus=self.cpus,
                access_log=f"{confdir}/access.log" if self.server_log else None))
            try:
                running.pid = nginx.start(host, self.rig.nginx, conf, confdir)
            except BenchError as exc:
                raise CellFailed(str(exc)) from None
            record.server_command = f"{self.rig.nginx} -c {conf}"
            running.log = f"{confdir}/error.log"
            running.stop = lambda: nginx.stop(host, self.rig.nginx, conf, confdir, running.pid)
            return running
        python = self.rig.interpreters.get(cell.interpreter)
        if not python:
            raise CellFailed(f"no {cell.interpreter} environment on {host}: run `inv setup`")
        argv = [python, f"{self.workdir}/server.py", "--port", str(port), "--interface", self.interface,
                "--backlog", str(self.backlog), "--mode", cell.mode, "--workers", str(cell.workers),
                "--resource", cell.resource, "--payload", str(cell.payload),
                "--file", f"{self.workdir}/www/{payload_name(cell.payload)}"]
        if self.server_log:
            argv.append("--log")
        if self.cpus:
            argv += ["--cpus", format_cpus(self.cpus)]
        record.server_command = " ".join(shlex.quote(a) for a in argv)
        try:
            running.pid = host.start(argv, log=running.log)
        except HostLost:
            raise
        except BenchError as exc:
            raise CellFailed(str(exc)) from None
        running.stop = lambda: host.stop(running.pid)
        return running

    def wait_ready(self, running: Running) -> dict:
        """Poll until the server answers from the load host, then check its bytes."""
        host, cell = self.rig.server, running.cell
        deadline = time.monotonic() + self.start_timeout
        answer: dict = {}
        while time.monotonic() < deadline:
            if not host.alive(running.pid):
                raise CellFailed(f"{cell.label} exited at start on {host}: {self.tail(running.log)}")
            if cell.server == "twisted" and not self._listening(running.log):
                time.sleep(0.05)
                continue
            answer = self.probe(running.url)
            if "error" not in answer:
                break
            time.sleep(0.05)
        else:
            raise CellFailed(f"{cell.label} did not answer {running.url} within {self.start_timeout:g}s "
                             f"({answer.get('error', 'no listening event')}): {self.tail(running.log)}")
        expected = {"status": 200, "length": cell.payload, "sha256": digest(cell.payload)}
        wrong = [f"{key} {answer.get(key)!r} (expected {value!r})" for key, value in expected.items() if answer.get(key) != value]
        if answer.get("headers", {}).get("content-length") != str(cell.payload):
            wrong.append(f"Content-Length {answer.get('headers', {}).get('content-length')!r} (expected '{cell.payload}')")
        if wrong:
            raise CellFailed(f"{cell.label} served the wrong answer: {'; '.join(wrong)}")
        return {key: answer[key] for key in ("status", "length", "sha256")}

    def probe(self, url: str) -> dict:
        """One GET from the load host: status, length, sha256 and headers, or an error."""
        if self.rig.load.is_local:
            return probe.fetch(url, timeout=2.0)
        out = self.rig.load.run(f"python3 {shlex.quote(self.probe_path)} {shlex.quote(url)}", warn=True).stdout
        try:
            return json.loads(out)
        except json.JSONDecodeError:
            return {"error": f"probe on {self.rig.load} printed {out.strip()[:80]!r}"}

    def tail(self, log: str, lines: int = 5) -> str:
        text = self.rig.server.run(f"tail -n {lines} {shlex.quote(log)}", warn=True).stdout.strip()
        return " | ".join(text.splitlines()) or "no output"

    def _listening(self, log: str) -> bool:
        try:
            text = self.rig.server.read_text(log)
        except (OSError, BenchError):
            return False
        return any(event.get("event") == "listening" for event in read_events(text))

    # -- stop ---------------------------------------------------------------------------
    def stop(self, running: Running, record: CellRecord) -> None:
        """Stop the server by its pid (once more after a reconnect if the host was lost), then collect."""
        if running.stopped:
            return
        try:
            self._stop(running, record)
        except HostLost:
            try:  # one more try, so nothing is left running there
                self.rig.server.reconnect()
                self._stop(running, record)
            except BenchError as exc:
                record.flag(f"could not stop the server: {exc}")
        except BenchError as exc:
            record.flag(f"while stopping: {exc}")

    def _stop(self, running: Running, record: CellRecord) -> None:
        if running.stop is not None:
            if not running.stopped and not self.rig.server.alive(running.pid) and record.status in (Status.OK, Status.FLAGGED):
                record.flag(f"{running.cell.label} exited during the run on {self.rig.server}")
            running.stop()
        running.stopped = True
        self.collect(running.cell, record)

    def collect(self, cell: Cell, record: CellRecord) -> None:
        """Bring the server's log (and Nginx's config) home and read its per-worker request counts."""
        logs = self.run_dir / "logs"
        local = logs / f"{cell.id}-{cell.label.replace('/', '-')}.log"
        copies = {f"{self.workdir}/logs/{cell.id}.log": local}
        if cell.server == "nginx":
            confdir = f"{self.workdir}/nginx-{cell.id}"
            copies = {f"{confdir}/error.log": local, f"{confdir}/nginx.conf": logs / f"{cell.id}-nginx.conf"}
            if self.server_log:
                copies[f"{confdir}/access.log"] = logs / f"{cell.id}-nginx-access.log"
        try:
            for source, target in copies.items():
                if self.rig.server.exists(source):
                    self.rig.server.get(source, target)
        except BenchError as exc:
            record.flag(f"could not collect the server's log: {exc}")
            return
        record.server_log = str(local.relative_to(self.run_dir)) if local.exists() else None
        if cell.server == "nginx" and (logs / f"{cell.id}-nginx.conf").exists():
            record.server_config = f"logs/{cell.id}-nginx.conf"
        if cell.server == "twisted" and local.exists():
            events = read_events(local.read_text())
            record.workers = {str(k): v for k, v in worker_counts(events).items()}
            record.spread = verdicts.spread(record.workers)
            deaths = [e for e in events if e.get("event") == "worker-died"]
            if deaths:
                record.flag(f"{len(deaths)} worker(s) died: "
                            + ", ".join(f"pid {e.get('pid')} status {e.get('status')}" for e in deaths))
