"""Shells kept open on several hosts: lines started at one moment, stopped when their input closes."""
import time

import psutil
import pytest

from bench.errors import BenchError
from bench.hosts import LocalHost
from bench.measure.together import Sessions, split_times


def test_lines_sent_to_every_session_start_at_once(tmp_path):
    marks = [tmp_path / f"started-{n}" for n in range(3)]
    with Sessions([LocalHost(), LocalHost(), LocalHost()]) as sessions:
        time.sleep(0.3)
        # Each line notes the moment it started, in nanoseconds.
        outcomes = sessions.run([(n, f"sh -c 'date +%s%N > {mark}'") for n, mark in enumerate(marks)], timeout=10)
    assert [status for status, _, _ in outcomes] == [0, 0, 0]
    moments = [int(mark.read_text()) for mark in marks]
    assert max(moments) - min(moments) < 100_000_000  # within 0.1 s of each other


def test_one_shell_runs_many_lines_each_with_its_status_output_and_cpu():
    with Sessions([LocalHost()]) as sessions:
        shell = sessions.sessions[0].job
        first = sessions.run([(0, "echo hello")], timeout=10)
        second = sessions.run([(0, "sh -c 'echo oops >&2; exit 3'")], timeout=10)
        busy = sessions.run([(0, "sh -c 'i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done'")], timeout=30)
        assert sessions.sessions[0].job is shell, "the same shell ran every line"
    assert first[0][:2] == (0, "hello\n") and second[0][:2] == (3, "oops\n")
    assert busy[0][2] > 0.01 and first[0][2] < busy[0][2]  # each line's own CPU, not the total


def test_closing_the_sessions_stops_a_running_line_and_its_command():
    sessions = Sessions([LocalHost()])
    sessions.open()
    sessions.sessions[0].send("sleep 30")
    time.sleep(0.3)
    sleeper = [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", "30"]]
    assert sleeper
    began = time.monotonic()
    sessions.close()
    assert time.monotonic() - began < 3
    assert not psutil.pid_exists(sleeper[0].pid) or sleeper[0].status() == psutil.STATUS_ZOMBIE


def test_a_line_that_outlives_its_timeout_stops_every_session_and_the_next_run_begins_fresh_shells():
    with Sessions([LocalHost(), LocalHost()]) as sessions:
        with pytest.raises(BenchError, match=r"^local: the load did not end within 0.3s"):
            sessions.run([(0, "sleep 30"), (1, "true")], timeout=0.3)
        assert not sessions.sessions
        assert sessions.run([(0, "echo again")], timeout=10)[0][:2] == (0, "again\n")
    assert not [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", "30"]]


def test_a_shell_that_cannot_start_is_one_line():
    class Broken(LocalHost):
        def begin(self, command):
            return super().begin("echo nope >&2; exit 3")

    with pytest.raises(BenchError, match=r"^local: its shell exited 3 before it was ready: nope"):
        Sessions([Broken()]).open()


def test_a_line_may_not_hold_a_newline():
    with Sessions([LocalHost()]) as sessions, pytest.raises(ValueError):
        sessions.run([(0, "echo a\necho b")], timeout=5)


@pytest.mark.parametrize("output, rest, cpu", [
    ("0m0.001s 0m0.002s\n0m1.500s 0m0.250s\n", "", 1.75),
    ("unable to connect\n0m0.001s 0m0.002s\n1m2.000s 0m0.500s\n", "unable to connect\n", 62.5),
    ("no times here\n", "no times here\n", None),
])
def test_split_times_takes_the_shells_times_off_the_output(output, rest, cpu):
    assert split_times(output) == (rest, cpu)


def test_waiting_for_a_line_costs_the_harness_next_to_no_cpu():
    """The harness waits on the shells' output, not by polling: its CPU is part of every measurement."""
    harness = psutil.Process()
    with Sessions([LocalHost(), LocalHost()]) as sessions:
        sessions.run([(0, "true"), (1, "true")], timeout=10)
        before, began = sum(harness.cpu_times()[:2]), time.monotonic()
        outcomes = sessions.run([(0, "sleep 3"), (1, "sleep 3")], timeout=10)
        cores = (sum(harness.cpu_times()[:2]) - before) / (time.monotonic() - began)
    assert [status for status, _, _ in outcomes] == [0, 0]
    # CPU time is counted in 10 ms ticks; polling every 5 ms cost 0.010 cores here.
    assert cores < 0.008, f"the harness used {cores:.3f} cores waiting for two idle lines"
