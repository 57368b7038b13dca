"""End to end: `inv bench` with a tiny load on real Nginx, Twisted and wrk."""
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import psutil
import pytest
from support import BarePathHost, constructed_record, free_port, options, write_run

from bench import manifest
from bench.errors import BenchError
from bench.hosts import LocalHost
from bench.measure.campaign import (
    claimed,
    find_servers,
    find_sweepers,
    new_run_dir,
    on_server_machine,
    progress_line,
    unclean_cells,
)
from bench.measure.environment import machine_identity
from bench.records import Status, read_records
from bench.report import charts
from bench.report.charts import write_charts
from bench.report.markdown import headers, render

PROJECT = Path(__file__).resolve().parents[2]
INV = [sys.executable, "-m", "invoke"]


def inv(tmp_path, *args, **kwargs):
    env = {**os.environ, "INVOKE_BENCH_REPORTS": str(tmp_path)}
    return subprocess.run([*INV, *args], cwd=PROJECT, env=env, capture_output=True, text=True, **kwargs)


def our_servers(run: str):
    """Server processes of run ``run`` still alive (the run's work folder is /tmp/twisted-lab-RUN.XXXXXXXX)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        line = " ".join(proc.info["cmdline"] or [])
        if f"/twisted-lab-{run}." in line and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(line)
    return found


def test_tiny_bench_writes_a_report_with_nginx_and_twisted(tmp_path):
    port = free_port()
    done = inv(tmp_path, "bench", "--keepalive", "--profile", "tiny", "--payloads", "40", "--repeats", "2",
               "--interpreters", "cpython", "--loadgen", "wrk", "--port", str(port), "--name", f"e2e-{port}", timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    run = tmp_path / f"e2e-{port}"
    records = read_records(run / "results.jsonl")
    labels = {r.label for r in records}
    (version,) = {r.cell.variant["twisted"] for r in records if r.cell.server == "twisted"}  # the newest set up
    assert labels == {"nginx", f"twisted/cpython/shared/fixed/{version}", f"twisted/cpython/shared/file/{version}"}
    for record in records:
        assert record.status == "ok", record.reasons
        measured = [r for r in record.runs if not r.warmup]
        assert 2 <= len(measured) <= 3  # more repeats only while noisy (tiny: at most 3)
        assert all(r.failed == 0 and r.errored == 0 and r.succeeded > 0 for r in measured)
        assert record.verify["length"] == 40
        assert (run / record.server_log).exists()
        if record.cell.server == "nginx":
            assert "worker_processes" in (run / record.server_config).read_text()
    twisted = [r for r in records if r.cell.server == "twisted"]
    assert all(sum(r.workers.values()) > 0 for r in twisted)
    report = (run / "report.md").read_text()
    assert "| nginx" in report and "| twisted" in report
    assert "### 40 bytes, keep-alive" in report
    env = json.loads((run / "env.json").read_text())
    assert env["hosts"][0]["cpus"] >= 1
    assert env["hosts"][0]["machine"]["boot_id"] == Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    # The report is a pure function of the run's files.
    assert report.count("](chart-") >= 1
    names = [path.name for path in write_charts(run)]
    assert render(records, env, names) == report
    assert not our_servers(run.name)


def nginx_alone(tmp_path, name: str, *flags: str) -> Path:
    """A clean `inv bench` of Nginx alone, 40 bytes with keep-alive, one tiny wrk round, with ``flags``: its folder."""
    port = free_port()
    done = inv(tmp_path, "bench", "--profile", "tiny", "--servers", "nginx", "--keepalive", "--payloads", "40",
               "--loadgen", "wrk", "--repeats", "1", *flags, "--port", str(port), "--name", f"{name}-{port}", timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return tmp_path / f"{name}-{port}"


@pytest.mark.skipif(os.cpu_count() < 2, reason="a partition needs two CPUs")
def test_a_partition_gives_each_server_one_worker_per_server_cpu_and_reads_each_sides_cpus(tmp_path):
    run = nginx_alone(tmp_path, "pinned", "--server-cpus", "1", "--load-cpus", "0")
    record, = read_records(run / "results.jsonl")
    assert record.cell.workers == 1  # --server-cpus 1, not the machine's 2 CPUs
    sample = record.measured[0].sample
    assert sample["host_cpus"] == 2 and 0 <= sample["server_cpus_busy_cores"] <= 1.0
    assert 0 <= sample["load_cpus_busy_cores"] <= 1.0


def test_two_hosts_of_one_machine_are_told_by_identity_not_by_object():
    # Two LocalHost objects stand for the namespace lab's two hosts: one machine, two names.
    server, load = LocalHost(), LocalHost()
    machines = {id(host): machine_identity(host) for host in (server, load)}
    assert on_server_machine(server, [load], machines) == ((True,), True)
    other = {**machines[id(load)], "boot_id": "another-kernel"}
    assert on_server_machine(server, [load], {**machines, id(load): other}) == ((False,), True)


def test_report_task_rebuilds_the_report(tmp_path):
    port = free_port()
    done = inv(tmp_path, "bench", "--close", "--profile", "tiny", "--payloads", "100", "--repeats", "1",
               "--servers", "nginx", "--loadgen", "wrk", "--port", str(port), "--name", "again", timeout=120)
    assert done.returncode == 0, done.stderr
    report = tmp_path / "again" / "report.md"
    first = report.read_text()
    report.unlink()
    again = inv(tmp_path, "report", str(tmp_path / "again"))
    assert again.returncode == 0, again.stderr
    assert report.read_text() == first


def test_load_flags_override_the_profile_for_one_run(tmp_path):
    run = nginx_alone(tmp_path, "flags", "--duration", "1", "--concurrency", "5")
    env = json.loads((run / "env.json").read_text())
    assert env["settings"]["load"]["keepalive"] == {"duration": 1, "concurrency": 5, "threads": 1}
    assert env["settings"]["load"]["flags"] == {"concurrency": 5, "duration": 1}
    assert "--concurrency 5" in env["command"] and "--duration 1" in env["command"]
    commands = [result.command for record in read_records(run / "results.jsonl") for result in record.runs]
    assert commands and all(" -c 5 " in command and " -d 1s " in command for command in commands)
    assert '"concurrency": 5' in (run / "report.md").read_text().split("## Settings")[1]


def test_wrk_with_a_request_count_is_refused_naming_duration(tmp_path):
    done = inv(tmp_path, "bench", "--profile", "tiny", "--servers", "nginx", "--loadgen", "wrk",
               "--requests", "100", timeout=60)
    assert done.returncode == 1
    assert "--duration" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


def orphaned_nginx_workers(moment: float) -> list[int]:
    """Nginx workers started after ``moment`` whose master is gone (their command lines do not name the run)."""
    orphans = []
    for proc in psutil.process_iter(["name", "create_time", "status", "cmdline"]):
        if proc.info["name"] != "nginx" or proc.info["create_time"] < moment or proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        parent = proc.parent()
        if "worker" in " ".join(proc.info["cmdline"] or []) and (parent is None or parent.name() != "nginx"):
            orphans.append(proc.pid)
    return orphans


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_stops_the_servers_and_keeps_measured_cells(tmp_path, signal_number):
    """Ctrl-C, a CI timeout (SIGTERM) and a closed SSH session (SIGHUP) all end a run the same way."""
    began = time.time() - 1
    port = free_port()
    env = {**os.environ, "INVOKE_BENCH_REPORTS": str(tmp_path)}
    proc = subprocess.Popen([*INV, "bench", "--keepalive", "--profile", "tiny", "--payloads", "40,41,42,43",
                             "--servers", "nginx", "--loadgen", "wrk", "--port", str(port), "--name", f"cut-{port}"],
                            cwd=PROJECT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    results = tmp_path / f"cut-{port}" / "results.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(read_records(results)) < 1:
        time.sleep(0.05)
    proc.send_signal(signal_number)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    kept = read_records(results)
    assert kept and kept[0].status == "ok", out
    assert len(kept) < 4, "the run should have been cut short"
    assert "kept in" in out and "--resume" in out
    assert (tmp_path / f"cut-{port}" / "report.md").exists()
    assert not our_servers(f"cut-{port}")
    time.sleep(0.2)
    assert not orphaned_nginx_workers(began), out


@pytest.mark.parametrize("args, message", [
    (["--servers", "apache"], "unknown server kind 'apache' (--servers): choose from nginx, twisted"),
    (["--payloads", "0"], "--payloads 0 is out of range"),
    (["--payloads", "lots"], "--payloads must be a whole number, not 'lots'"),
    (["--profile", "huge"], "unknown load profile"),
    (["--loadgen", "ab"], "unknown load generator"),
    (["--keepalive", "--close"], "--keepalive and --close both set keepalive"),
    (["--profile", "seed", "--loadgen", "wrk"], "wrk runs for a duration, not a request count"),
])
def test_bad_flags_are_one_line_errors(tmp_path, args, message):
    done = inv(tmp_path, "bench", *args, timeout=60)
    assert done.returncode == 1
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


def test_port_in_use_is_refused_before_anything_runs(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = inv(tmp_path, "bench", "--servers", "nginx", "--profile", "tiny", "--loadgen", "wrk",
                   "--port", str(port), "--name", "busy", timeout=60)
    assert done.returncode == 1
    assert f"port {port}" in done.stderr and "in use" in done.stderr
    assert read_records(tmp_path / "busy" / "results.jsonl") == []


def test_a_port_whose_case_runs_past_65535_is_one_line_before_anything_runs(tmp_path):
    """Nginx on 65535 and Twisted on the port after it: --port alone was checked."""
    done = inv(tmp_path, "bench", "--servers", "nginx,twisted", "--interpreters", "cpython", "--modes", "shared",
               "--resources", "fixed", "--payloads", "40", "--keepalive", "--workers", "1", "--profile", "tiny",
               "--loadgen", "wrk", "--port", "65535", "--name", "edge", timeout=60)
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: --port 65535 leaves no room for the 2 servers of a case (ports 65535 to 65536): choose a port of "
        "at most 65534"]
    assert not (tmp_path / "edge").exists()


def test_resume_measures_only_the_missing_cells(tmp_path):
    port = free_port()
    run = tmp_path / f"resume-{port}"
    env = {**os.environ, "INVOKE_BENCH_REPORTS": str(tmp_path)}
    args = ["bench", "--keepalive", "--profile", "tiny", "--payloads", "40,41,42", "--servers", "nginx",
            "--loadgen", "wrk", "--port", str(port), "--name", run.name]
    proc = subprocess.Popen([*INV, *args], cwd=PROJECT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(read_records(run / "results.jsonl")) < 1:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    first = [r for r in read_records(run / "results.jsonl") if r.status == "ok"]
    assert 1 <= len(first) < 3, out
    assert f"--resume {run}" in out

    differs = inv(tmp_path, "bench", "--resume", str(run), "--payloads", "40,99", timeout=60)
    assert differs.returncode == 1 and "payloads" in differs.stderr and "differ" in differs.stderr

    done = inv(tmp_path, "bench", "--resume", str(run), timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(first)} of 3 cells already measured" in done.stdout
    records = [r for r in read_records(run / "results.jsonl") if r.status == "ok"]
    assert sorted(r.cell.payload for r in records) == [40, 41, 42]
    assert [r.id for r in records[:len(first)]] == [r.id for r in first]  # kept, not measured again
    assert "### 42 bytes, keep-alive" in (run / "report.md").read_text()
    assert not our_servers(run.name)


def test_the_kinds_come_baseline_first_and_a_baseline_of_several_variants_is_refused():
    said = []
    chosen = options(servers="twisted,nginx", interpreters="cpython", resources="fixed")
    kinds = find_servers(LocalHost(), chosen, said.append)  # CPython: set up, or this harness's own
    assert [kind.name for kind, _, _ in kinds] == ["nginx", "twisted"]
    with pytest.raises(BenchError, match=r"^the baseline, Twisted, would run 2 variants in each case \(cpython/shared/"
                                         r"fixed/[0-9.]+, cpython/shared/file/[0-9.]+\): every cell is compared with one"):
        find_servers(LocalHost(), replace(chosen, baseline="twisted", resources=("fixed", "file")), said.append)


def test_unclean_cells_name_what_failed_or_was_flagged_last(tmp_path):
    ok, failed = constructed_record("nginx", 1, [5]), constructed_record("twisted", 1, [], status="failed")
    again = constructed_record("twisted", 2, [5], status="flagged")
    run = write_run(tmp_path / "run", [ok, failed, again, constructed_record("twisted", 1, [4])])
    assert unclean_cells(run) == ["twisted/pypy/shared/fixed 40B"]  # the failed cell was measured again, cleanly


def test_a_run_name_with_shell_characters_is_one_line_and_runs_nothing(tmp_path):
    marker = tmp_path / "marker"
    done = inv(tmp_path, "bench", "--servers", "nginx", "--profile", "tiny", "--loadgen", "wrk",
               "--name", f"x;touch {marker};true", timeout=60)
    assert done.returncode == 1
    assert "bad run name" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not marker.exists() and not list(tmp_path.iterdir())


@pytest.mark.parametrize("name", ["../../escaped", "/tmp/abs-run"])
def test_a_run_folder_stays_under_reports(tmp_path, name):
    reports = tmp_path / "a" / "b" / "reports"
    reports.mkdir(parents=True)
    env = {**os.environ, "INVOKE_BENCH_REPORTS": str(reports)}
    done = subprocess.run([*INV, "bench", "--servers", "nginx", "--profile", "tiny", "--loadgen", "wrk",
                           "--name", name], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "bad run name" in done.stderr
    assert not (tmp_path / "a" / "escaped").exists() and not Path("/tmp/abs-run").exists()


def test_the_resume_hint_quotes_the_run_folder(tmp_path):
    reports = tmp_path / "my reports"
    reports.mkdir()
    write_run(reports / "done", [constructed_record("nginx", 1, [5])])
    env = {**os.environ, "INVOKE_BENCH_REPORTS": str(reports)}
    done = subprocess.run([*INV, "bench", "--servers", "nginx", "--name", "done"], cwd=PROJECT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert f"--resume '{reports}/done'" in done.stderr


def test_a_refused_run_leaves_another_runs_work_folder_alone(tmp_path):
    port = free_port()
    other = Path(f"/tmp/twisted-lab-busy-{port}")  # the folder the run's name named before runs made their own
    other.mkdir()
    (other / "server.py").write_text("# another run's\n")
    try:
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", port))
            busy.listen()
            done = inv(tmp_path, "bench", "--servers", "nginx", "--profile", "tiny", "--loadgen", "wrk",
                       "--port", str(port), "--name", f"busy-{port}", timeout=60)
        assert done.returncode == 1 and "in use" in done.stderr
        assert (other / "server.py").exists()
        assert not list(Path("/tmp").glob(f"twisted-lab-busy-{port}.*")), "the run's own folder is removed"
    finally:
        shutil.rmtree(other, ignore_errors=True)


def test_a_second_run_on_the_same_folder_is_refused_while_the_first_holds_it(tmp_path):
    run_dir = tmp_path / "same"
    with claimed(run_dir, resume=False):
        with pytest.raises(BenchError, match="another `inv bench` is writing"):
            with claimed(run_dir, resume=True):
                pass
        (run_dir / "results.jsonl").write_text("")
    with pytest.raises(BenchError, match="already holds results"):
        with claimed(run_dir, resume=False):
            pass
    assert (run_dir / "results.jsonl").exists()  # the refused run removed nothing


def test_runs_without_a_name_in_the_same_second_get_folders_of_their_own(tmp_path):
    chosen = replace(options(), reports=str(tmp_path))
    first = new_run_dir(chosen)
    first.mkdir()
    second = new_run_dir(chosen)
    assert second != first and not second.exists()


def test_the_progress_line_counts_measured_rounds_and_gives_a_rate_only_for_a_clean_cell():
    rates = [72922, 71310, 70150]
    clean = constructed_record("twisted", 2, rates)
    clean.timing = {"overhead": 3.0, "cells": 2}
    line = progress_line(clean)
    assert f": {statistics.median(rates):,.0f} req/s ({min(rates):,.0f}–{max(rates):,.0f}; 3 rounds measured, 3 clean)" in line
    flagged = constructed_record("twisted", 2, rates, status="flagged")
    flagged.reasons = ["1 worker(s) died: pid 4242 status killed by signal 9"]
    flagged.measured[2].errored = 17  # the round the worker died in
    flagged.timing = clean.timing
    line = progress_line(flagged)
    assert line.endswith(": FLAGGED — 1 worker(s) died: pid 4242 status killed by signal 9 "
                         "(3 rounds measured, 2 clean: not a result)")
    assert "req/s" not in line and not any(f"{rate:,.0f}" in line for rate in rates)


def killed_run_interpreter() -> str:
    """PyPy when `inv setup` provisioned it (the case of the issue), else this machine's CPython."""
    return "pypy" if "pypy" in {name for name, _ in manifest.environments(LocalHost(), options().prefix)} else "cpython"


def twisted_workers(run: str) -> list[psutil.Process]:
    """The Twisted worker processes of run ``run`` (started from its work folder's server.py with --worker)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        line = proc.info["cmdline"] or []
        if "--worker" in line and any(f"/twisted-lab-{run}." in part and part.endswith("server.py") for part in line):
            found.append(proc)
    return found


def test_a_worker_killed_mid_case_leaves_its_cell_without_any_figure(tmp_path):
    """A real tiny run; a Twisted worker SIGKILLed in round 2, after a clean round 1: the run exits 2 and no
    line, table or chart gives that cell a figure."""
    interpreter = killed_run_interpreter()
    port = free_port()
    name = f"killed-{port}"
    env = {**os.environ, "INVOKE_BENCH_REPORTS": str(tmp_path)}
    proc = subprocess.Popen([*INV, "bench", "--keepalive", "--profile", "tiny", "--payloads", "40", "--servers",
                             "nginx,twisted", "--interpreters", interpreter, "--modes", "shared", "--resources", "fixed",
                             "--workers", "2", "--repeats", "3", "--loadgen", "wrk", "--port", str(port), "--name", name],
                            cwd=PROJECT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen, victims = [], []
    try:
        for line in proc.stdout:
            seen.append(line)
            if ": round 2 (" in line:  # round 1 is measured; round 2 loads Twisted first
                victims = twisted_workers(name)[:1]
                for victim in victims:
                    victim.send_signal(signal.SIGKILL)
                break
        out = "".join(seen) + proc.communicate(timeout=180)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert victims, "no Twisted worker to kill in round 2:\n" + "".join(seen)
    assert proc.returncode == 2, out
    run = tmp_path / name
    records = {r.cell.server: r for r in read_records(run / "results.jsonl")}
    twisted = records["twisted"]
    label = f"twisted/{interpreter}/shared/fixed/{twisted.cell.variant['twisted']}"
    assert twisted.status is Status.FLAGGED and any("died" in reason for reason in twisted.reasons), twisted.reasons
    assert twisted.numbers, "round 1 was clean: those are the figures no view may show"

    # the progress line: its rounds, never a rate
    (line,) = [line for line in out.splitlines() if line.startswith("[") and f"] {label} " in line]
    assert ": FLAGGED — " in line and f"({len(twisted.measured)} rounds measured, {len(twisted.numbers)} clean: " \
           "not a result)" in line and "req/s" not in line, line

    # the report: a dash and the status in the results table, no row in drift, no ratio; no figure anywhere
    report = (run / "report.md").read_text()
    row = next(line for line in report.split("## Results")[1].splitlines() if line.startswith("| twisted "))
    columns = headers(["interpreter", "mode", "resource", "twisted"], "nginx")
    cells = dict(zip(columns, (part.strip() for part in row.strip().strip("|").split("|"))))
    assert cells["req/s (median)"] == "— ⚠" and cells["notes"].startswith("flagged"), row
    assert [cells[key] for key in ("min–max", "CV", "req/s per core", "kbyte/s")] == ["", "", "", ""], row
    assert cells["latency p50 / p90 / p99 (ms)"] == "—" and cells["vs nginx"] == "—", row
    answer = next(line for line in report.split("## Twisted against Nginx")[1].splitlines()
                  if line.startswith(f"| `{label}`"))
    assert not re.search(r"\d\.\d\d", answer.split("|", 2)[2]), answer  # no ratio, per request or per core
    drift = report.split("## Drift across rounds")[1].split("\n## ")[0] if "## Drift across rounds" in report else ""
    assert f"`{label}`" not in drift
    figures = {r.req_per_s for r in twisted.measured}
    figures |= {r.req_per_s / r.server_cores for r in twisted.measured if r.server_cores}
    figures |= {r.kbyte_per_s for r in twisted.measured}
    figures.add(statistics.median(r.req_per_s for r in twisted.numbers))
    shown = {f"{figure:,.0f}" for figure in figures if figure >= 1000} & set(re.findall(r"\d{1,3}(?:,\d{3})+", report))
    assert not shown, f"{shown} of the killed cell in report.md"

    # the charts' data: no bar or point, no ratio
    points = [point for points in charts.cases(list(records.values())).values() for point in points
              if point.label == label]
    assert [(p.median, p.low, p.high, p.clean) for p in points] == [(None, None, None, False)]
    (ratio,) = charts.ratios(list(records.values()), "nginx")
    assert ratio.value is None and ratio.why_not == "twisted flagged"
    assert (run / "chart-ratio.png").exists() and (run / "chart-reqs-40-keepalive.png").exists()
    assert not our_servers(name)


def test_latency_without_wrk2_on_the_load_host_is_one_line_saying_how_to_build_it(tmp_path):
    (tmp_path / "bin").mkdir()
    with pytest.raises(BenchError, match=r"^--latency sweeps with wrk2, and local has none \(looked in .*/bin, PATH\): "
                                         r"`inv setup --only wrk2` builds it"):
        find_sweepers([BarePathHost(str(tmp_path / "bin"))], replace(options(latency=True), prefix=str(tmp_path)))
    assert find_sweepers([LocalHost()], options()) == ()
