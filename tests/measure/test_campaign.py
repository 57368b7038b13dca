"""End to end: `inv bench` with a tiny load on real Nginx, Twisted and wrk."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import psutil
import pytest
from support import constructed_record, free_port, options, write_run

from bench.errors import BenchError
from bench.measure.campaign import claimed, new_run_dir, run_campaign, unclean_cells
from bench.records import read_records
from bench.report.charts import write_charts
from bench.report.markdown import render

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
    assert labels == {"nginx", "twisted/cpython/shared/fixed", "twisted/cpython/shared/file"}
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
    # The report is a pure function of the run's files.
    assert report.count("](chart-") >= 1
    names = [path.name for path in write_charts(run)]
    assert render(records, env, names) == report
    assert not our_servers(run.name)


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
    port = free_port()
    done = inv(tmp_path, "bench", "--profile", "tiny", "--servers", "nginx", "--keepalive", "--payloads", "40",
               "--loadgen", "wrk", "--duration", "1", "--concurrency", "5", "--repeats", "1", "--port", str(port),
               "--name", f"flags-{port}", timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    run = tmp_path / f"flags-{port}"
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
    (["--servers", "apache"], "unknown server apache"),
    (["--payloads", "0"], "payload 0 bytes is out of range"),
    (["--payloads", "lots"], "bad payloads"),
    (["--profile", "huge"], "unknown load profile"),
    (["--loadgen", "ab"], "unknown load generator"),
    (["--keepalive", "--close"], "pick one half"),
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


def test_unclean_cells_name_what_failed_or_was_flagged_last(tmp_path):
    ok, failed = constructed_record("nginx", 1, [5]), constructed_record("twisted", 1, [], status="failed")
    again = constructed_record("twisted", 2, [5], status="flagged")
    run = write_run(tmp_path / "run", [ok, failed, again, constructed_record("twisted", 1, [4])])
    assert unclean_cells(run) == ["twisted/pypy/shared/fixed 40B"]  # the failed cell was measured again, cleanly


def test_statistics_missing_a_key_are_refused_before_anything_starts(tmp_path):
    chosen = replace(options(name="old"), reports=str(tmp_path), statistics={"max_repeats": 5, "cv_threshold": 0.05})
    with pytest.raises(BenchError, match="bench.statistics has no ci_target, max_seconds"):
        run_campaign(chosen)
    assert not (tmp_path / "old").exists()


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
