"""One server under test on the server host: start it, check its bytes, stop it by pid, bring its log home.

What to start, how to tell it is up and how to stop it is its kind's launch plan (see ``kind``);
the machinery here runs any plan the same way. Each server of a case has a port of its own,
so all of them can be up at once and loaded in turn.
"""
from __future__ import annotations

import hashlib
import json
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.errors import BenchError, HostLost
from bench.hosts import Host
from bench.hosts.base import cannot_start, command_failed
from bench.hosts.scripts import GONE, HELPERS, MARK, REUSED, TERM, outcome, process_line, report, stop_script
from bench.records import Cell, CellRecord, Status
from bench.standalone import probe
from bench.standalone.payload import payload_bytes

from .. import keeper
from ..loading import Loader
from .kind import REJECTED, Launch, Place, kind

# -- what runs on the server host: each step one command, its waiting done there -------------------

START_WAIT = 3.0  # seconds start() waits for readiness (Ctrl-C is held meanwhile); wait_ready waits the rest


class CellFailed(Exception):
    """This cell could not be measured; the matrix goes on."""


@dataclass
class Rig:
    """Who plays which role, and the tools each role uses."""

    server: Host
    loaders: tuple[Loader, ...]  # the load hosts, each with its load generator; they share each load
    address: str  # what the load generators target
    found: dict  # kind name -> what it runs with on the server host (its find())
    server_cpus: int
    # On the server's machine, as the machine identities say: each load host (None: when it is the
    # server host) and this harness (None: when the server host is local).
    load_on_server_machine: tuple[bool, ...] | None = None
    harness_on_server_machine: bool | None = None
    sweepers: tuple[Loader, ...] = ()  # inv bench --latency: wrk2 on the load host, for each case's sweep

    @property
    def load(self) -> Host:
        """The first load host: it probes the servers."""
        return self.loaders[0].host

    @property
    def colocated(self) -> tuple[bool, ...]:
        """For each load host, whether it runs on the server's machine (so takes from its CPUs)."""
        if self.load_on_server_machine is not None:
            return self.load_on_server_machine
        return tuple(loader.host is self.server for loader in self.loaders)

    @property
    def harness_here(self) -> bool:
        """This harness runs on the server's machine (so takes from its CPUs)."""
        return self.server.is_local if self.harness_on_server_machine is None else self.harness_on_server_machine

    @property
    def same_host(self) -> bool:
        """Server and some load generator on one machine."""
        return any(self.colocated)


@dataclass
class Running:
    """A started server: where it answers, and how to stop it."""

    cell: Cell
    port: int
    url: str
    pid: int | None = None
    started: int | None = None  # its start time, so a reused pid is never taken for it (see bench.hosts.scripts)
    log: str = ""  # its log on the server host, whose tail a failure quotes
    stop_steps: tuple[tuple[str, float], ...] = ((TERM, 10.0),)  # each graceful step, then how long to wait
    stopped: bool = False
    state: str = "starting"  # as the server host last saw it: starting, ready or exited
    tail: str = ""  # the log's last lines then
    began: float = 0.0
    ready: str = ""  # the shell test that it is up
    waiting_for: str = "no sign it serves"  # that sign, named when it never came
    collect: dict[str, str] = field(default_factory=dict)  # its files to bring home, its log first: there -> here
    config: str | None = None  # which of them is its config


def digest(payload: int) -> str:
    return hashlib.sha256(payload_bytes(payload)).hexdigest()


def payload_name(payload: int) -> str:
    return f"payload-{payload}.html"


def log_name(cell: Cell) -> str:
    """Its log's name in the run folder's logs/, after the cell's id."""
    return f"{cell.label.replace('/', '-')}.log"


def bracket(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def wait_script(pid: int, started: int | None, ready: str, timeout: float, log: str) -> str:
    """Poll there until ``ready`` (a shell test) holds, the process is gone, or ``timeout``; report and tail ``log``."""
    return f"pid={int(pid)} started={'' if started is None else int(started)}\n{HELPERS}" + _waiting(ready, timeout, log)


def _waiting(ready: str, timeout: float, log: str, lines: int = 5) -> str:
    return (f"now; end=$((now + {round(timeout * 100)}))\n"
            f"while :; do\n"
            f"  alive || {{ state=exited; break; }}\n"
            f"  if {ready}; then state=ready; break; fi\n"
            f"  now; [ \"$now\" -lt \"$end\" ] || {{ state=starting; break; }}\n"
            f"  sleep 0.05\n"
            f"done\n"
            f"echo \"{MARK} pid=$pid started=$started state=$state\"\n"
            f"tail -n {lines} {shlex.quote(log)} 2>/dev/null\n")


def launch_script(argv: list[str], log: str, ready: str, timeout: float, tail_log: str, before: str = "",
                  after: str = "") -> str:
    """Start ``argv`` detached in its own session (output to ``log``) after ``before``, note its start
    time, run ``after``, then wait as wait_script."""
    # Without job control the background job is no group leader, so setsid execs in place and $! is the server's pid.
    return (f"{HELPERS}mkdir -p {shlex.quote(str(Path(log).parent))} || exit\n"
            f"command -v {shlex.quote(argv[0])} >/dev/null || exit 127\n{before}"
            f"pid=$(setsid {shlex.join(argv)} >>{shlex.quote(log)} 2>&1 </dev/null & echo $!)\n"
            f"{process_line()}{after}" + _waiting(ready, timeout, tail_log))


def write_script(path: str, text: str) -> str:
    """Shell lines that write ``text`` to ``path`` through a temporary name beside it."""
    tmp = shlex.quote(path) + ".tmp.$$"
    return (f"mkdir -p {shlex.quote(str(Path(path).parent))} && printf %s {shlex.quote(text)} >{tmp} "
            f"&& mv -f {tmp} {shlex.quote(path)} || exit\n")


class Servers:
    """Starts, checks and stops the servers of a run in its work folder on the server host."""

    def __init__(self, rig: Rig, *, workdir: str, run_dir: Path, interface: str, backlog: int,
                 server_log: bool, start_timeout: float, cpus: tuple[int, ...] = ()):
        self.rig, self.workdir, self.run_dir = rig, workdir, Path(run_dir)
        self.interface, self.backlog, self.server_log, self.start_timeout = interface, backlog, server_log, start_timeout
        self.cpus = cpus  # each worker pinned to one of these
        self.probe_path = ""  # on a remote load host, where the runner put the probe
        self.keeper: keeper.Keeper | None = None  # stops the servers if the harness goes away

    def keep(self) -> None:
        """Have a keeper on the server host (a new one if the last one ended): see ``keeper``."""
        if self.keeper is None or not self.keeper.running:
            self.keeper = keeper.Keeper(self.rig.server, self.workdir)

    def release(self) -> None:
        """Let the keeper go: it stops any server still listed, then ends."""
        if self.keeper is not None:
            self.keeper.close()
            self.keeper = None

    def url(self, port: int) -> str:
        return f"http://{bracket(self.rig.address)}:{port}/"

    # -- start ------------------------------------------------------------------------
    def place(self, cell: Cell, port: int) -> Place:
        """Where the cell's server runs, as its kind is told."""
        return Place(workdir=self.workdir, folder=f"{self.workdir}/{cell.server}-{cell.id}",
                     log=f"{self.workdir}/logs/{cell.id}.log", www=f"{self.workdir}/www", port=port,
                     interface=self.interface, backlog=self.backlog, access_log=self.server_log, cpus=self.cpus)

    def start(self, cell: Cell, port: int, record: CellRecord, wait: float = START_WAIT) -> Running:
        """Start the cell's server on ``port`` and wait there (at most ``wait`` seconds) until it is up; CellFailed
        when it cannot start.

        One command on the server host: its kind's files written and checked, the server started
        detached, and its readiness awaited there.
        """
        running = Running(cell=cell, port=port, url=self.url(port), began=time.monotonic())
        host = self.rig.server
        try:
            self.keep()
            server = kind(cell.server)
            plan = server.launch(cell, self.place(cell, port), self.rig.found.get(cell.server))
        except HostLost:
            raise
        except BenchError as exc:
            raise CellFailed(str(exc)) from None
        running.log, running.ready, running.waiting_for = plan.log, plan.ready, plan.waiting_for
        running.stop_steps = plan.stop
        running.collect = {plan.log: log_name(cell), **plan.collect}
        running.config = plan.config
        record.server_command = plan.command
        wait = min(self.start_timeout, wait)
        before = "".join(write_script(path, text) for path, text in plan.files.items()) + plan.check
        script = launch_script(plan.argv, plan.output or plan.log, plan.ready, wait, plan.log, before=before,
                               after=keeper.listed(self.workdir))
        try:
            result = host.run(script, warn=True, timeout=wait + 30)
        except HostLost:
            raise
        except BenchError as exc:
            raise CellFailed(str(exc)) from None
        if result.exited == 127:
            raise CellFailed(cannot_start(str(host), plan.argv[0], "not found"))
        if result.exited == REJECTED and plan.check:
            said = (result.stderr or result.stdout).strip().splitlines() or ["no output"]
            raise CellFailed(f"{server.display} rejects its config on {host}: {said[-1]}")
        if result.exited == keeper.UNKEPT:
            raise CellFailed(f"the keeper of the run's servers on {host} ended as {cell.label} started, "
                             f"so it was stopped at once; run again")
        said = report(result.stdout)
        if not result.ok or said is None or not said[0].get("pid", "").isdigit():
            raise CellFailed(command_failed(str(host), record.server_command, result))
        running.pid = int(said[0]["pid"])
        running.started = int(said[0]["started"]) if said[0].get("started", "").isdigit() else None
        running.state, running.tail = said[0].get("state", "starting"), said[1]
        return running

    def wait_ready(self, running: Running) -> dict:
        """Wait on the server host until it is up, then check its bytes from the load host."""
        cell = running.cell
        deadline = running.began + self.start_timeout
        answer: dict = {}
        while True:
            if running.state == "exited":
                raise CellFailed(f"{cell.label} exited at start on {self.rig.server}: {running.tail}")
            if running.state == "ready":
                answer = self.probe(running.url)
                if "error" not in answer:
                    break
            if time.monotonic() >= deadline:
                raise CellFailed(f"{cell.label} did not answer {running.url} within {self.start_timeout:g}s "
                                 f"({answer.get('error', running.waiting_for)}): {running.tail}")
            if running.state == "ready":
                time.sleep(0.05)
            self._wait(running, max(deadline - time.monotonic(), 0.0))
        expected = {"status": 200, "length": cell.payload, "sha256": digest(cell.payload)}
        wrong = [f"{key} {answer.get(key)!r} (expected {value!r})" for key, value in expected.items() if answer.get(key) != value]
        if answer.get("headers", {}).get("content-length") != str(cell.payload):
            wrong.append(f"Content-Length {answer.get('headers', {}).get('content-length')!r} (expected '{cell.payload}')")
        if wrong:
            raise CellFailed(f"{cell.label} served the wrong answer: {'; '.join(wrong)}")
        return {key: answer[key] for key in ("status", "length", "sha256")}

    def _wait(self, running: Running, timeout: float) -> None:
        """One command: wait on the server host until the server is up or gone, or ``timeout``."""
        try:
            result = self.rig.server.run(wait_script(running.pid, running.started, running.ready, timeout, running.log), warn=True,
                                         timeout=timeout + 30)
        except HostLost:
            raise
        except BenchError as exc:
            raise CellFailed(str(exc)) from None
        said = report(result.stdout)
        if said is None:
            raise CellFailed(command_failed(str(self.rig.server), f"waiting for pid {running.pid}", result))
        running.state, running.tail = said[0].get("state", "starting"), said[1]

    def probe(self, url: str) -> dict:
        """One GET from the load host: status, length, sha256 and headers, or an error."""
        return probe.fetch(url, timeout=2.0) if self.rig.load.is_local else self._probe_there(url)

    def probe_pipelined(self, url: str, depth: int) -> dict:
        """``depth`` requests pipelined on one connection from the load host, each answer described (see probe)."""
        return (probe.pipelined(url, depth, timeout=5.0) if self.rig.load.is_local
                else self._probe_there(url, "5", str(int(depth))))

    def _probe_there(self, *args: str) -> dict:
        out = self.rig.load.run(f"python3 {shlex.quote(self.probe_path)} {shlex.join(args)}", warn=True).stdout
        try:
            return json.loads(out)
        except json.JSONDecodeError:
            return {"error": f"probe on {self.rig.load} printed {out.strip()[:80]!r}"}

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
        if running.pid is not None and not running.stopped:
            # One command: whether it still ran, its graceful stop waited for there, then its group killed.
            result = self.rig.server.run(stop_script(running.pid, running.started, running.stop_steps)
                                         + keeper.unlisted(self.workdir, running.pid), warn=True,
                                         timeout=sum(seconds for _, seconds in running.stop_steps) + 30)
            said = report(result.stdout)
            if said is None:
                raise BenchError(command_failed(str(self.rig.server), f"stopping pid {running.pid}", result))
            found = outcome(said[0])
            if found in (GONE, REUSED) and record.status in (Status.OK, Status.FLAGGED):
                record.flag(f"{running.cell.label} exited during the run on {self.rig.server}"
                            + (f"; {REUSED} (pid {running.pid} is another process now)" if found == REUSED else ""))
        running.stopped = True
        self.collect(running, record)

    def collect(self, running: Running, record: CellRecord) -> None:
        """Bring the server's log and its kind's other files home, and let its kind read the log."""
        cell = running.cell
        logs = self.run_dir / "logs"
        collect = running.collect or {self.place(cell, running.port).log: log_name(cell)}
        copies = {source: logs / f"{cell.id}-{name}" for source, name in collect.items()}
        for source, target in copies.items():
            try:  # no round trip to ask first: a file that is not there fails to come, and is absent
                self.rig.server.get(source, target)
            except HostLost:
                raise
            except BenchError as exc:
                if self.rig.server.exists(source):
                    record.flag(f"could not collect the server's log: {exc}")
                    return
        local = next(iter(copies.values()))
        record.server_log = str(local.relative_to(self.run_dir)) if local.exists() else None
        config = logs / f"{cell.id}-{running.config}" if running.config else None
        if config and config.exists():
            record.server_config = str(config.relative_to(self.run_dir))
        kind(cell.server).collected(cell, local if local.exists() else None, record)
