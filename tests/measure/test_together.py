"""Jobs begun on several hosts, started at one moment, stopped by closing their input."""
import time

import psutil
import pytest

from bench.errors import BenchError
from bench.hosts import LocalHost
from bench.measure.together import NOT_STARTED, Together, said, until_done, waiting


def test_nothing_runs_before_go_and_every_job_starts_at_once(tmp_path):
    marks = [tmp_path / f"started-{n}" for n in range(3)]
    # Each job notes the moment it started, in nanoseconds.
    starts = [(LocalHost(), until_done(f"date +%s%N > {mark}")) for mark in marks]
    with Together(starts) as together:
        time.sleep(0.3)
        assert not any(mark.exists() for mark in marks), "a job ran before go"
        together.go()
        assert together.finish(together.jobs, timeout=10) == [0, 0, 0]
    moments = [int(mark.read_text()) for mark in marks]
    assert max(moments) - min(moments) < 100_000_000  # within 0.1 s of each other


def test_closing_the_input_stops_a_running_job_and_its_command(tmp_path):
    with Together([(LocalHost(), until_done("sleep 30"))]) as together:
        together.go()
        time.sleep(0.3)
        sleeper = [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", "30"]]
        assert sleeper
        began = time.monotonic()
    assert time.monotonic() - began < 3
    assert together.jobs[0].wait(0) is not None
    assert not psutil.pid_exists(sleeper[0].pid) or sleeper[0].status() == psutil.STATUS_ZOMBIE


def test_a_job_that_never_heard_go_exits_without_running(tmp_path):
    mark = tmp_path / "ran"
    with Together([(LocalHost(), until_done(f"touch {mark}"))]) as together:
        pass
    assert together.jobs[0].wait(5) == NOT_STARTED and not mark.exists()


def test_a_load_that_outlives_its_timeout_stops_every_job():
    with Together([(LocalHost(), until_done("sleep 30")), (LocalHost(), until_done("true"))]) as together:
        together.go()
        with pytest.raises(BenchError, match=r"^local: the load did not end within 0.3s"):
            together.finish(together.jobs, timeout=0.3)
        assert all(job.wait(0) is not None for job in together.jobs)


def test_a_job_that_fails_before_it_is_ready_is_one_line():
    with pytest.raises(BenchError, match=r"^local: a job exited 3 before it started: nope"):
        with Together([(LocalHost(), "echo nope >&2; exit 3")]):
            pass


def test_the_commands_cpu_is_reported_and_the_output_after_ready_is_kept():
    with Together([(LocalHost(), until_done("echo hello; sh -c 'i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done'"))]) as t:
        t.go()
        t.finish(t.jobs, timeout=30)
    job = t.jobs[0]
    assert said(job.stdout) == "hello\n"
    assert job.stderr.strip().splitlines()[-1].count("m") == 2  # the shell's `times`: children's user and system


def test_said_skips_what_a_login_shell_printed_first():
    assert said("motd\nready\nresult\n") == "result\n"
    assert said("no handshake") == "no handshake"
    assert waiting("x").startswith("exec 3<&0; echo ready;")
