"""A benchmark campaign: plan the matrix, set up the lab, measure every cell, write the report.

This is where the pieces meet; each piece stays ignorant of the others.
"""
from __future__ import annotations

import fcntl
import hashlib
import re
import resource
import shlex
import sys
import time
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Callable

from bench import clock, manifest, report, tune
from bench.errors import BenchError
from bench.hosts import Host, LocalHost, open_host
from bench.records import CellRecord, Status, latest, read_records, write_env

from . import cpus, environment, interrupts, loadgens, matrix, servers, sweep
from .loadgens.generator import find
from .loading import Loader, split
from .options import Options, check_ports, settings
from .progress import Progress, progress_for
from .runner import Runner, Settings, warmup_load
from .servers import Rig, ServerKind

PROJECT = Path(__file__).resolve().parents[2]


def raise_nofile(host: Host, needed: int) -> None:
    """Raise the open-file limit for everything the harness starts on ``host``."""
    if host.is_local:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft >= needed:
            return
        if hard != resource.RLIM_INFINITY and hard < needed:
            raise BenchError(f"the open-file hard limit is {hard}, the load needs {needed}: "
                             f"run `inv tune` (then log in again), or lower the concurrency")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
        return
    hard = host.run("ulimit -Hn").stdout.strip()
    if hard != "unlimited" and counted(host, "ulimit -Hn", hard) < needed:
        raise BenchError(f"{host}: the open-file hard limit is {hard}, the load needs {needed}: "
                         f"run `inv tune --host {host}`, or lower the concurrency")
    host.nofile = needed


def counted(host: Host, command: str, said: str) -> int:
    """The whole number a host printed for ``command``; a one-line error for anything else (a banner, an error)."""
    if not re.fullmatch(r"[0-9]{1,18}", said):
        raise BenchError(f"{host}: `{command}` printed {said[:60]!r}, not a whole number: make the host's shell "
                         f"start-up files print nothing, and check that `{command}` works there")
    return int(said)


def find_servers(host: Host, options: Options, say: Callable[[str], None]) -> list[tuple[ServerKind, object, list]]:
    """Each kind to measure (the baseline first) with what it found on the server host and its variants. A kind
    with nothing to run there is left out, and said so, unless it is all there is to measure."""
    chosen = servers.kinds(options.servers)
    chosen.sort(key=lambda kind: kind.name != options.baseline)
    found = []
    for kind in chosen:
        runs_with = kind.find(host, options, say)
        found.append((kind, runs_with, kind.variants(options, runs_with)))
    for kind, _, variants in found:
        if kind.name == options.baseline and len(variants) > 1:
            raise BenchError(f"the baseline, {kind.display}, would run {len(variants)} variants in each case "
                             f"({', '.join('/'.join(v.values()) for v in variants)}): every cell is compared with one, "
                             f"so choose one (--interpreters, --modes, ...) or another --baseline")
    usable = [entry for entry in found if entry[2]]
    if not usable:
        raise BenchError(f"nothing of {', '.join(kind.display for kind in chosen)} can run on {host}: run `inv setup`")
    for kind, _, _ in (entry for entry in found if not entry[2]):
        say(f"note: {kind.display} cannot run on {host}: its cells are skipped (run `inv setup`)")
    return usable


def open_lab(options: Options, lab_config, trust_new: bool) -> tuple[Host, list[Host], str, str]:
    """The server host, the load hosts, the address the load targets and the one servers bind.

    A host that cannot be reached closes the ones already open.
    """
    server_host = open_host(options.server_host, lab_config, trust_new=trust_new)
    load_hosts: list[Host] = []
    try:
        for target in options.load_hosts or (None,):
            same = (target or None) == (options.server_host or None)
            load_hosts.append(server_host if same else open_host(target, lab_config, trust_new=trust_new))
    except BaseException:
        for host in distinct(server_host, load_hosts):
            host.close()
        raise
    if server_host.is_local:
        address = options.server_address or options.interface or "127.0.0.1"
    else:
        address = options.server_address or server_host.spec.host
    return server_host, load_hosts, address, options.interface or address


def distinct(server_host: Host, load_hosts: list[Host]) -> list[Host]:
    """Each host of the run once (the server host may also be the load host)."""
    return list({id(host): host for host in [server_host, *load_hosts]}.values())


def find_loaders(load_hosts: list[Host], options: Options) -> tuple[Loader, ...]:
    """The load generator on each load host: the same tool on all of them, so their runs add up."""
    loaders = tuple(Loader(host, *loadgens.detect(host, options.loadgen, options.loadgens,
                                                  [f"{host.expand(options.prefix)}/bin"]))
                    for host in load_hosts)
    tools = {loader.generator.name for loader in loaders}
    if len(tools) > 1:
        found = ", ".join(f"{loader.generator.name} on {loader.host}" for loader in loaders)
        programs = sorted({loader.generator.program for loader in loaders}, key=options.loadgens.index)
        choose = f"pass --loadgen {' or --loadgen '.join(programs)}, or " if len(programs) > 1 else ""
        raise BenchError(f"the load hosts have different load generators ({found}): {choose}run `inv setup` on each")
    return loaders


def find_sweepers(load_hosts: list[Host], options: Options) -> tuple[Loader, ...]:
    """wrk2 on each load host, for --latency's sweeps; none without --latency."""
    if not options.latency:
        return ()
    generator = loadgens.load_generator("wrk2")
    found = []
    for host in load_hosts:
        folders = [f"{host.expand(options.prefix)}/bin"]
        binary = find(host, generator.program, folders)
        if binary is None:
            raise BenchError(f"--latency sweeps with wrk2, and {host} has none (looked in {', '.join(folders)}, PATH): "
                             f"`inv setup --only wrk2` builds it from its pinned archive (--mirror DIR offline)")
        found.append(Loader(host, generator.installed(host, binary), binary))
    return tuple(found)


def run_campaign(options: Options, *, lab_config=None, trust_new: bool = False, resume: Path | None = None,
                 say: Callable[[str], None] | None = None) -> Path:
    """Measure the matrix; return the run folder (its report is written even when interrupted).

    Its lines go to ``say``; without one, to the terminal with live progress inside each case.
    """
    lab_config = lab_config or {}
    if resume is not None:
        read_records(Path(resume) / "results.jsonl")  # a damaged folder is refused before any host is opened
    run_dir = Path(resume) if resume is not None else new_run_dir(options)
    with claimed(run_dir, resume is not None), (progress_for() if say is None else Progress()) as progress:
        return _run(options, run_dir, lab_config=lab_config, trust_new=trust_new, resume=resume,
                    say=say or progress.say, progress=progress)


def new_run_dir(options: Options) -> Path:
    """reports/<name>, or reports/<timestamp>[-N] for a run without a name: never one that holds results."""
    reports = Path(options.reports)
    if options.name:
        run_dir = reports / options.name
        if (run_dir / "results.jsonl").exists():
            raise BenchError(f"{run_dir} already holds results: pick another --name, "
                             f"or pass --resume {shlex.quote(str(run_dir))}")
        return run_dir
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return next(reports / name for name in [stamp, *(f"{stamp}-{n}" for n in range(2, 100))]
                if not (reports / name).exists())


@contextmanager
def claimed(run_dir: Path, resume: bool):
    """Hold the run folder for this run alone: a second `inv bench` on it (same name, or --resume) is refused."""
    made = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        with open(run_dir / ".lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise BenchError(f"another `inv bench` is writing {run_dir}: wait for it to end, "
                                 f"or pick another --name") from None
            if not resume and (run_dir / "results.jsonl").exists():  # another run got here first and finished
                raise BenchError(f"{run_dir} already holds results: pick another --name, "
                                 f"or pass --resume {shlex.quote(str(run_dir))}")
            yield
    finally:
        if made and [path.name for path in run_dir.iterdir()] == [".lock"]:  # refused before it wrote anything
            (run_dir / ".lock").unlink()
            run_dir.rmdir()


def _run(options: Options, run_dir: Path, *, lab_config, trust_new: bool, resume: Path | None,
         say: Callable[[str], None], progress: Progress) -> Path:
    server_host, load_hosts, address, interface = open_lab(options, lab_config, trust_new)
    try:
        return _measure(options, run_dir, server_host, load_hosts, address, interface, resume=resume, say=say,
                        progress=progress)
    finally:
        for host in distinct(server_host, load_hosts):
            host.close()


def _measure(options: Options, run_dir: Path, server_host: Host, load_hosts: list[Host], address: str,
             interface: str, *, resume: Path | None, say: Callable[[str], None], progress: Progress) -> Path:
    loads = ", ".join(map(str, load_hosts))
    where = "" if server_host.is_local and all(h.is_local for h in load_hosts) else f" (server {server_host}, load {loads})"
    loaders = find_loaders(load_hosts, options)
    generator = loaders[0].generator
    kinds = find_servers(server_host, options, say)
    server_cpus = counted(server_host, "nproc", server_host.run("nproc").stdout.strip())
    machines = {id(host): environment.machine_identity(host) for host in distinct(server_host, load_hosts)}
    colocated, harness_here = on_server_machine(server_host, load_hosts, machines)
    if any(colocated):
        cpus.check_partition(options.server_cpus, options.load_cpus, online=server_cpus)

    cells = matrix.plan(
        servers=[(kind, variants) for kind, _, variants in kinds], payloads=options.payloads, keepalive=options.keepalive,
        workers=options.workers or (len(options.server_cpus) or server_cpus,),
        loadgen=generator.name, profile=options.profile, pipeline=options.pipeline,
    )
    check_loads(cells, options, loaders)
    done = {r.id for r in read_records(run_dir / "results.jsonl") if r.status is not Status.INTERRUPTED}
    todo = [cell for cell in cells if cell.id not in done]
    cases = matrix.cases(todo) if options.order == "paired" else [[cell] for cell in todo]
    check_ports(options.port, max((len(case) for case in cases), default=1))
    if resume is not None:
        say(f"resuming {run_dir}: {len(cells) - len(todo)} of {len(cells)} cells already measured")
    needed = max(c.concurrency for c in cells) * 2 + 1024
    for host in distinct(server_host, load_hosts):
        raise_nofile(host, needed)

    run_dir.mkdir(parents=True, exist_ok=True)
    rig = Rig(server=server_host, loaders=loaders, address=address, found={kind.name: found for kind, found, _ in kinds},
              server_cpus=server_cpus, load_on_server_machine=colocated, harness_on_server_machine=harness_here,
              sweepers=find_sweepers(load_hosts, options))
    if resume is None:
        env = capture_env(options, run_dir, server_host, rig, kinds, machines)
        write_env(run_dir / "env.json", env)

    runner = Runner(rig, runner_settings(options, interface, run_dir.name), run_dir, progress=progress)
    say(f"{len(todo)} cells in {len(cases)} {'cases' if options.order == 'paired' else 'steps'} "
        f"({options.order}), {generator.name} as load generator{where}{sweep_words(options, cases)}, "
        f"results in {run_dir}/")
    with interrupts.as_interrupts():  # SIGTERM and SIGHUP end a run as Ctrl-C does
        try:
            reaped = runner.reap()
            if reaped:
                say(reaped)
            runner.prepare(options.payloads, ports=max((len(case) for case in cases), default=1))
            number = 0
            for index, case in enumerate(cases, 1):
                progress.case(case_title(case), index, len(cases))
                for record in runner.measure_case(case, group=case_id(case)):
                    number += 1
                    say(f"[{number}/{len(todo)}] {progress_line(record)}")
        except KeyboardInterrupt:
            say(f"interrupted: the cells measured so far are kept in {run_dir}/results.jsonl; "
                f"`inv bench --resume {shlex.quote(str(run_dir))}` measures the rest")
            raise
        except BenchError as exc:
            raise BenchError(f"{exc} — measured cells are kept; `inv bench --resume {shlex.quote(str(run_dir))}` goes on") from None
        finally:
            with interrupts.deferred():  # a second signal waits until the report is written
                try:
                    runner.cleanup()
                except BenchError:
                    pass  # a lost connection must not hide the report
                if (run_dir / "results.jsonl").exists():
                    report.write(run_dir)
    return run_dir


def runner_settings(options: Options, interface: str, work_name: str) -> Settings:
    """How the runner measures: each of its settings named as an option (or a key of bench.statistics) takes
    that option's value; the warm-up is the profile's (a stored profile may have none: no warm-up)."""
    named = {**{field.name: getattr(options, field.name) for field in fields(options)}, **options.statistics,
             "interface": interface, "warmup": options.profile.get("warmup") or {}, "work_name": work_name,
             "latency": sweep.Plan.of(options.sweep) if options.latency else None}
    return Settings(**{field.name: named[field.name] for field in fields(Settings)})


def on_server_machine(server_host: Host, load_hosts: list[Host], machines: dict) -> tuple[tuple[bool, ...], bool]:
    """Which load hosts run on the server's machine, and whether this harness does: by their machine
    identities (``machines``: id(host) -> identity), not by how the hosts are named (the namespace lab's
    hosts are one machine)."""
    server = machines[id(server_host)]
    colocated = tuple(host is server_host or bool(environment.same_machine(machines[id(host)], server))
                      for host in load_hosts)
    harness_here = server_host.is_local or bool(environment.same_machine(environment.machine_identity(LocalHost()), server))
    return colocated, harness_here


def check_loads(cells, options: Options, loaders) -> None:
    """Refuse, before anything starts, a load the chosen tool cannot run (a request count for a tool that
    runs for a duration, a concurrency the load hosts cannot share...)."""
    warmup = options.profile.get("warmup") or {}
    generator, binary = loaders[0].generator, loaders[0].binary
    for cell in cells:
        measured = cell.load("http://127.0.0.1/")
        for load in filter(None, (measured, warmup_load(measured, warmup))):
            try:
                for share in split(load, len(loaders)):
                    generator.command(share, binary)
            except BenchError as exc:
                flags = options.profile.get("flags") or {}
                hint = "; give --duration SECONDS instead of --requests" if (
                    "requests" in flags and load is measured and load.duration is None) else ""
                raise BenchError(f"load profile {options.profile_name!r} with {generator.name}: {exc}{hint}") from None


def sweep_words(options: Options, cases) -> str:
    """What --latency adds to each case, for the run's first line."""
    if not options.latency:
        return ""
    plan = sweep.Plan.of(options.sweep)
    servers = max((len(case) for case in cases), default=1)
    refined = f" and up to {plan.refine} more near the slowest knee" if plan.refine else ""
    return (f"; then each case swept at {len(plan.grid)} fixed rates{refined} by wrk2, {plan.step}s a step "
            f"(~{sweep.seconds(plan, len(plan.grid), servers):.0f}s for {servers} servers)")


def capture_env(options, run_dir, server_host, rig, found, machines) -> dict:
    """env.json: the run's settings, the kinds measured (``found``: each with what it found on the server host and
    its variants) and, per host, what it is (its machine identity among it) and how it was tuned and provisioned."""
    loaders = rig.loaders
    def loadgen_facts(loader: Loader) -> dict:
        return {"tool": loader.generator.name, "path": loader.binary,
                "version": loader.generator.version(loader.host, loader.binary),
                **manifest.loadgen_provenance(loader.generator.program, loader.binary,
                                              manifest.read_manifest(loader.host, options.prefix), options.loadgen,
                                              preferred=options.loadgens[0])}

    def sweeper_facts(loader: Loader) -> dict:
        return {key: value for key, value in loadgen_facts(loader).items() if key in ("tool", "path", "version", "source")}

    profile = tune.load_profile(options.tune_profile)
    hosts = []
    same = any(loader.host is server_host for loader in loaders)
    roles = [(server_host, "server+load" if same else "server", loaders[0] if same else None)]
    roles += [(loader.host, "load", loader) for loader in loaders if loader.host is not server_host]
    for host, role, loader in roles:
        facts = environment.capture_host(
            host, role=role, servers=found if "server" in role else [],
            loadgen=loadgen_facts(loader) if loader is not None else None,
            nofile=resource.getrlimit(resource.RLIMIT_NOFILE)[0] if host.is_local else host.nofile)
        facts["machine"] = machines[id(host)]
        facts["tuning"] = {"profile": options.tune_profile, "settings": tune.tuning_state(host, profile)}
        facts["manifest"] = manifest.read_manifest(host, options.prefix)
        hosts.append(facts)
    return {
        "run": run_dir.name,
        "started": clock.now_utc(),
        "command": options.command,
        "git": environment.git_commit(PROJECT),
        "options": options.to_dict(),
        "kinds": {kind.name: kind.display for kind, _, _ in found},
        "settings": {**settings(options, loadgen=loaders[0].generator.name),
                     **({"pipeline": options.pipeline} if options.pipeline > 1 else {}),  # as before pipelining
                     **({"latency": {**options.sweep, "loadgen": sweeper_facts(rig.sweepers[0])}} if rig.sweepers else {})},
        "hosts": hosts,
    }


def case_title(cells) -> str:
    """'keep-alive 40B ×2: nginx, twisted/pypy/shared/fixed/26.4.0'."""
    first = cells[0]
    return (f"{'keep-alive' if first.keepalive else 'close'} {first.payload}B ×{first.workers}: "
            + ", ".join(cell.label for cell in cells))


def case_id(cells) -> str:
    """The group id of cells measured together: stable for the same cells."""
    return hashlib.sha1(",".join(cell.id for cell in cells).encode()).hexdigest()[:12]


def unclean_cells(run_dir: Path) -> list[str]:
    """The labels of the run's cells that failed or were flagged (the last record of each cell)."""
    return [f"{r.label} {r.cell.payload}B" for r in latest(read_records(Path(run_dir) / "results.jsonl"))
            if r.status in (Status.FAILED, Status.FLAGGED)]


def progress_line(record: CellRecord) -> str:
    """A finished cell in one line: its req/s only when it is clean; the rounds measured, and how many were clean."""
    cell = record.cell
    words = f"{record.label} {cell.payload}B {'keep-alive' if cell.keepalive else 'close'} ×{cell.workers}"
    summary = report.req_per_s(record)
    if not summary:  # flagged, failed or interrupted: why, never a rate
        reasons = "; ".join(dict.fromkeys(record.reasons)) or "no clean round"
        verdicts = f" [{', '.join(record.verdicts)}]" if record.verdicts else ""
        return f"{words}: {str(record.status).upper()} — {reasons} ({report.rounds_words(record)}: not a result){verdicts}"
    notes = f" [{', '.join(record.verdicts)}]" if record.verdicts else ""
    return (f"{words}: {summary.median:,.0f} req/s ({summary.low:,.0f}–{summary.high:,.0f}; "
            f"{report.rounds_words(record)}), "
            f"harness overhead {record.timing['overhead'] / record.timing.get('cells', 1):.1f}s per cell{notes}")
