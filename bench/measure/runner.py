"""Measure a case: its servers up together, warmed up, then loaded in turn, round after round.

A case is one payload × keep-alive × workers. Every server of the case starts on a
port of its own and is checked and warmed up; then each round loads every server once,
in an order that turns from round to round, so one round's samples are seconds apart
and share the machine's drift. Rounds go on until each cell's ratio to the baseline is known
to within ``ci_target`` (or each server's req/s, in a case without it), or until the
case's time or round cap: :mod:`.stopping` decides, and each record keeps why. The
sequential order is the same machinery with one server per case.

The case's records are appended to ``results.jsonl`` once its servers are stopped,
also when a failure or Ctrl-C ends it early.
"""
from __future__ import annotations

import shlex
import time
from dataclasses import dataclass, replace
from pathlib import Path

from bench import ratios, standalone
from bench.errors import BenchError, HostLost
from bench.hosts import Host
from bench.records import Cell, CellRecord, Load, LoadResult, Status, append_record
from bench.standalone.payload import payload_bytes
from bench.standalone.probe import pipelining_problems
from bench.stats import summarize

from . import interrupts, keeper, loading, sampling, stopping, sweep, verdicts
from .progress import Progress
from .servers import CellFailed, Rig, Running, Servers, digest, payload_name

# Where each run makes its work folders (mktemp -d), on every host.
WORK_PARENT = "/tmp"

@dataclass
class Settings:
    """How a run measures; every value comes from the run's options (invoke.yaml and the flags): a field
    named as an option, or as a key of bench.statistics, takes its value (campaign.runner_settings)."""

    port: int  # the first server's port; the case's other servers take the ports after it
    interface: str
    backlog: int
    server_log: bool
    repeats: int  # rounds at least ...
    max_repeats: int  # ... and at most,
    ci_target: float  # stopping once every interval's half-width is at most this share of its centre,
    min_rounds: int  # (from this round on)
    max_seconds: float  # or once the case's rounds have taken this long
    cv_threshold: float  # more spread than this across a cell's runs is "noisy"
    warmup: dict  # the profile's: its load (requests or duration; none: no warm-up), tolerance, max_rounds, max_seconds
    work_name: str  # names the run's work folders, made fresh on the server and load hosts
    baseline: str  # the kind every cell's ratio is taken against (bench.baseline)
    server_cpus: tuple[int, ...]  # each server worker pinned to one of these; () for no pinning
    load_cpus: tuple[int, ...]  # the load generator pinned to these
    start_timeout: float  # seconds a server has to answer its first request
    latency: sweep.Plan | None = None  # --latency: each case's servers swept at fixed rates after its rounds


class Runner:
    """Runs cases against one rig; ``results`` is where each record is appended."""

    def __init__(self, rig: Rig, settings: Settings, run_dir: Path, progress: Progress | None = None):
        self.rig = rig
        self.progress = progress or Progress()  # the base class shows nothing
        self.settings = settings
        self.rule = stopping.Rule(repeats=settings.repeats, min_rounds=settings.min_rounds,
                                  max_repeats=settings.max_repeats, max_seconds=settings.max_seconds,
                                  target=settings.ci_target, baseline=settings.baseline)
        self.run_dir = Path(run_dir)
        self.results = self.run_dir / "results.jsonl"
        # A shell on each load host (and on a lab server host, for its CPU), kept open for a case.
        self.sessions = loading.sessions_for(list(rig.loaders), rig.server)
        self.made: list[tuple[Host, str]] = []  # the folders this run made, the only ones cleanup() removes
        self.servers = Servers(rig, workdir="", run_dir=self.run_dir, interface=settings.interface,
                               backlog=settings.backlog, server_log=settings.server_log,
                               start_timeout=settings.start_timeout, cpus=settings.server_cpus)

    # -- the run ---------------------------------------------------------------
    def prepare(self, payloads, ports: int = 1) -> None:
        """Copy the server and its payload files to the server host, the probe to the load host; check the ports."""
        (self.run_dir / "logs").mkdir(parents=True, exist_ok=True)
        host = self.rig.server
        self.servers.workdir = self._make_workdir(host)
        # Nginx's workers run as nobody: they may pass through the folder, not list it, and read www/.
        www = f"{self.workdir}/www"
        host.run(f"chmod 711 {shlex.quote(self.workdir)} && mkdir -m 755 {shlex.quote(www)}")
        for shipped in (standalone.SERVER, *standalone.SHIPPED):
            host.put(shipped, f"{self.workdir}/{shipped.name}")
        for size in sorted(set(payloads)):
            # World-readable: nginx's workers run as nobody.
            host.write_text(f"{self.workdir}/www/{payload_name(size)}", payload_bytes(size).decode("ascii"), mode=0o644)
        if not self.rig.load.is_local:
            folder = self.workdir if self.rig.load is host else self._make_workdir(self.rig.load)
            self.servers.probe_path = f"{folder}/probe.py"
            self.rig.load.put(standalone.PROBE, self.servers.probe_path)
        self.servers.keep()
        for port in range(self.settings.port, self.settings.port + ports):
            if self.servers.probe(self.servers.url(port)).get("connected", True):
                raise BenchError(f"port {port} on {self.rig.address} is in use: stop what listens there "
                                 f"or pass --port (a case's servers use {ports} ports from --port on)")

    @property
    def workdir(self) -> str:
        """The run's work folder on the server host; made by prepare()."""
        return self.servers.workdir

    def _make_workdir(self, host: Host) -> str:
        """A fresh folder of this run's own on ``host``, private (0700) until prepare() opens what must be."""
        template = f"{WORK_PARENT}/twisted-lab-{self.settings.work_name}.XXXXXXXX"
        path = host.run(f"mktemp -d {shlex.quote(template)}").stdout.strip()
        self.made.append((host, path))
        return path

    def reap(self) -> str | None:
        """Stop the servers that earlier runs on the server host left running when their harness went away
        (see ``keeper``); the line that says so, or None."""
        return keeper.reap(self.rig.server, f"{WORK_PARENT}/twisted-lab-")

    def cleanup(self) -> None:
        """Remove the work folders this run made, and only those."""
        self.sessions.close()
        self.servers.release()
        lost = []
        while self.made:
            host, path = self.made.pop()
            try:
                host.run(f"rm -rf {shlex.quote(path)}", warn=True)
            except HostLost as exc:  # the other hosts' folders still go
                lost.append(str(exc))
        if lost:
            raise HostLost("; ".join(lost))

    def measure(self, cell: Cell) -> CellRecord:
        """One cell alone; its record is appended. A failure is recorded, not raised."""
        return self.measure_case([cell])[0]

    def measure_case(self, cells: list[Cell], group: str | None = None) -> list[CellRecord]:
        """Measure cells together, round by round; append and return their records."""
        hosts = {"server": str(self.rig.server), "load": ", ".join(str(loader.host) for loader in self.rig.loaders)}
        records = [CellRecord(cell=cell, group=group if len(cells) > 1 else None, hosts=dict(hosts)) for cell in cells]
        started: list[tuple[CellRecord, Running]] = []
        began = ready = time.monotonic()
        try:
            self.progress.phase("start", detail=", ".join(record.label for record in records))
            self.sessions.begin()  # the case's shells start up while its servers do
            live = self._start(records, started)
            self.sessions.ready()
            ready = time.monotonic()
            for record, running in live:
                self.progress.phase("warm-up", detail=record.label)
                self._warm_up(record, running)
            self._rounds(records, live)
            for record, _ in live:
                record.verdicts = self._verdicts(record)
            if self.settings.latency is not None:
                self._sweep(live)
        except (KeyboardInterrupt, HostLost) as exc:
            # Not the cells' fault (Ctrl-C, a lost connection): kept, and measured again on --resume.
            for record in records:
                if record.status is not Status.FAILED:
                    record.interrupt(str(exc) or "interrupted by Ctrl-C")
            raise
        finally:
            with interrupts.deferred():  # a second Ctrl-C must not leave a server running
                self.progress.phase("stop")
                stopping = time.monotonic()
                self.sessions.close()
                for record, running in started:
                    self.servers.stop(running, record)
                ended = time.monotonic()
                load = sum(run.seconds for record in records for run in record.runs + record.sweep)
                for record in records:
                    record.timing = {"start_verify": round(ready - began, 3),
                                     "load": round(sum(run.seconds for run in record.runs + record.sweep), 3),
                                     "stop": round(ended - stopping, 3), "total": round(ended - began, 3),
                                     "overhead": round(ended - began - load, 3), "cells": len(records)}
                    append_record(self.results, record)
        return records

    def _start(self, records: list[CellRecord], started: list) -> list[tuple[CellRecord, Running]]:
        """Start every server on its port, then check each one's answer (they start up meanwhile, together);
        a server that cannot is its cell's failure."""
        launched, live = [], []
        for index, record in enumerate(records):
            try:
                with interrupts.deferred():  # a server that started is always known, so always stopped
                    running = self.servers.start(record.cell, self.settings.port + index, record, wait=0.0)
                    started.append((record, running))
                launched.append((record, running))
            except CellFailed as exc:
                record.fail(str(exc))
        for record, running in launched:
            try:
                record.verify = self.servers.wait_ready(running)
                if record.cell.pipeline > 1:
                    record.verify["pipelined"] = self._pipelining(running)
                live.append((record, running))
            except CellFailed as exc:
                record.fail(str(exc))
        return live

    def _pipelining(self, running: Running) -> dict:
        """Check that the server answers the cell's pipelined requests, every one in order; CellFailed if not."""
        cell = running.cell
        found = self.servers.probe_pipelined(running.url, cell.pipeline)
        problems = pipelining_problems(found, cell.payload, digest(cell.payload))
        if problems:
            raise CellFailed(f"{cell.label} mishandled {cell.pipeline} pipelined requests: {'; '.join(problems[:3])}")
        return {"depth": cell.pipeline, "answers": len(found["answers"]),
                "checked": "each in order: status 200, Content-Length, and a GET's body"}

    # -- load --------------------------------------------------------------------
    def _warm_up(self, record: CellRecord, running: Running) -> None:
        """Discarded runs until req/s stops rising (capped in runs and time)."""
        warmup = self.settings.warmup
        if warmup_load(record.cell.load(running.url), warmup) is None:
            return
        rates: list[float] = []
        began = time.monotonic()
        while True:
            result = self._load(record, running, warmup=True)
            if result is None:
                return
            rates.append(result.req_per_s)
            if len(rates) >= warmup["max_rounds"] or time.monotonic() - began >= warmup["max_seconds"]:
                break
            if verdicts.warmed_up(rates, warmup["tolerance"]):
                break
        record.warmup_rounds = len(rates)
        if len(rates) >= warmup["max_rounds"] and not verdicts.warmed_up(rates, warmup["tolerance"]):
            record.verdicts.append("warm-up unstable")

    def _rounds(self, records: list[CellRecord], live: list[tuple[CellRecord, Running]]) -> None:
        """Each round loads every live server once, the order turned by one each round, until the stopping rule
        says the rounds end; each record keeps why."""
        began = time.monotonic()
        number = 0
        while live:
            self.progress.phase("round", round=number + 1, detail=stopping.widest(records, self.rule, number))
            turn = number % len(live)
            for record, running in live[turn:] + live[:turn]:
                if record.status is not Status.FAILED:
                    self._load(record, running, warmup=False, round_number=number)
            live = [(record, running) for record, running in live if record.status is not Status.FAILED]
            number += 1
            seconds = time.monotonic() - began
            why = stopping.ended(records, number, seconds, self.rule)
            if why:
                for record in records:
                    record.stopping = stopping.outcome(self.rule, number, seconds, why)
                return

    def _load(self, record: CellRecord, running: Running, warmup: bool, round_number: int | None = None) -> LoadResult | None:
        """One load run, kept in the record; measured runs carry the CPU use of both sides. None if it failed."""
        load = record.cell.load(running.url)
        if warmup:
            load = warmup_load(load, self.settings.warmup)
        budget = (load.duration or 0) * 3 + (load.requests or 0) / 2000 + 30  # generous: ≥ 2k req/s
        window = None if warmup else sampling.Window(self.rig.server, running.pid, running.started, self._placement())
        try:
            result = loading.run_round(self.sessions, list(self.rig.loaders), replace(load, rate=warmup_rate(record)),
                                       timeout=budget, cpus=self.settings.load_cpus, window=window)
        except HostLost:
            raise
        except BenchError as exc:
            record.fail(str(exc))
            return None
        result.warmup, result.round = warmup, round_number
        for part in result.parts:
            part.warmup, part.round = warmup, round_number
        record.runs.append(result)
        if not result.clean:
            record.flag(("warm-up " if warmup else "") + _unclean(result))
        return result

    def _sweep(self, live: list[tuple[CellRecord, Running]]) -> None:
        """The clean servers again, at the grid of fixed offered rates their maxima give, taking turns at each
        rate in an order that turns from rate to rate (see sweep); each step kept in its record's sweep."""
        plan, swept = self.settings.latency, [(r, running) for r, running in live if r.status is Status.OK]
        medians = {record.label: summarize(run.req_per_s for run in record.numbers) for record, _ in swept}
        baseline = next((r.label for r, _ in swept if r.cell.server == self.settings.baseline), self.settings.baseline)
        base = sweep.baseline_rate({label: found.median if found else None for label, found in medians.items()}, baseline)
        rates = [] if base is None else sweep.offered_rates(base, plan.grid)
        for index, rate in enumerate(rates):
            self.progress.phase("sweep", round=index + 1, detail=f"{rate:,.0f} req/s offered ({len(rates)} rates)")
            self._steps(swept, rate, index)
        for index in range(len(rates), len(rates) + plan.refine):  # none without steps: refined_rate says None
            rate = sweep.refined_rate([r.sweep for r, _ in swept if r.status is Status.OK], plan.rule)
            if rate is None:
                break
            self.progress.phase("sweep", round=index + 1, detail=f"{rate:,.0f} req/s offered (refining the slowest knee)")
            self._steps(swept, rate, index)

    def _steps(self, swept: list[tuple[CellRecord, Running]], rate: float, index: int) -> None:
        """Each clean server at ``rate``, in the order of the ``index``-th rate."""
        for record, running in sweep.turns(swept, index):
            if record.status is Status.OK:
                self._step(record, running, rate, index)

    def _step(self, record: CellRecord, running: Running, rate: float, index: int) -> None:
        """One server at one offered rate (wrk2), with the CPU of both sides and who was at the limit."""
        plan = self.settings.latency
        load = Load(url=running.url, concurrency=plan.connections, threads=plan.threads,
                    keepalive=record.cell.keepalive, duration=plan.step, offered=rate)
        window = sampling.Window(self.rig.server, running.pid, running.started, self._placement())
        try:
            step = loading.run_round(self.sessions, list(self.rig.sweepers), load, timeout=plan.step * 2 + 30,
                                     cpus=self.settings.load_cpus, window=window)
        except HostLost:
            raise
        except BenchError as exc:
            record.flag(f"sweep at {rate:,.0f} req/s: {exc}")
            return
        step.round = index
        if {"server_cores", "loadgen_cores"} <= set(step.sample or {}):
            limits = verdicts.round_limits(step, threads=plan.threads, workers=record.cell.workers, room=self._room())
            step.sample.update(saturated=limits.client, server_busy=limits.server, worker_saturated=limits.worker,
                               machine_bound=limits.machine)
        record.sweep.append(step)

    def _placement(self) -> sampling.Placement:
        """Where the run's parts are, seen from the server's machine."""
        s, rig = self.settings, self.rig
        return sampling.Placement(server_cpus=s.server_cpus, load_cpus=s.load_cpus if rig.same_host else (),
                                  colocated=rig.colocated, harness_here=rig.harness_here)

    def _room(self) -> verdicts.Room:
        """The CPUs each side could run on, from the run's partition or the server's machine."""
        s = self.settings
        return verdicts.Room(server_cpus=len(s.server_cpus) or self.rig.server_cpus,
                             load_cpus=len(s.load_cpus) if s.server_cpus and self.rig.same_host else 0,
                             partitioned=bool(s.server_cpus))

    def _verdicts(self, record: CellRecord) -> list[str]:
        """The cell's verdicts (:func:`verdicts.judged`), its server's room from the run's CPUs."""
        return verdicts.judged(record, self._room(), self.settings.cv_threshold)


def warmup_rate(record: CellRecord) -> float | None:
    """The req/s of the cell's last clean warm-up run, which sizes the next loads; None before one."""
    return next((run.req_per_s for run in reversed(record.runs) if run.warmup and run.clean), None)


def warmup_load(load: Load, warmup: dict) -> Load | None:
    """The discarded load before a cell's measured runs: its concurrency, the warm-up's size; None for none."""
    if not (warmup.get("requests") or warmup.get("duration")):
        return None
    return replace(load, requests=warmup.get("requests"), duration=warmup.get("duration"))


def _unclean(result: LoadResult) -> str:
    return (f"{result.tool}: {result.succeeded} succeeded, {result.failed} failed, "
            f"{result.errored} errored, {result.non_2xx} non-2xx")
