"""CPU sampling of real processes and of the machine, here and through a lab host's shell."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.hosts import LocalHost
from bench.hosts.local import start_time
from bench.measure.sampling import (
    CpuTicks,
    Placement,
    Reading,
    Window,
    host_cores,
    parse_proc_stat,
    parse_snapshot,
    run_sample,
    snapshot_command,
)
from bench.measure.together import Sessions

FIXTURES = Path(__file__).parent / "fixtures" / "proc"
SPIN = "import time\nwhile True: pass\n"
# Told to go by a line on its input, it spins for half a CPU second of its own (however busy the machine
# is), says so, then spins on: what a window sees is then known, not hoped for.
BURN = ("import sys, time\nsys.stdin.readline()\nbegan = time.process_time()\n"
        "while time.process_time() - began < 0.5: pass\nprint('spun', flush=True)\nwhile True: pass\n")
# A server whose one worker burns so until killed; the server reaps it, then idles (as Twisted's master and
# Nginx's do when a worker dies): it prints the worker's pid, then when it reaped it.
REAPER = ("import os, subprocess, sys, time\n"
          f"worker = subprocess.Popen([sys.executable, '-c', {BURN!r}])\n"
          "print(worker.pid, flush=True)\n"
          "worker.wait()\n"
          "print('reaped', flush=True)\n"
          "time.sleep(60)\n")


def burn(process) -> None:
    """Have ``process``'s BURN go, and wait until it spun its half CPU second."""
    process.stdin.write("go\n")
    process.stdin.flush()
    assert process.stdout.readline().strip() == "spun"


def test_proc_stat_per_cpu_lines_are_busy_steal_and_idle():
    # Read off the fixture (this machine's /proc/stat): cpu0 39770 0 14471 34874 180 0 2402 44 0 0
    cpus = parse_proc_stat((FIXTURES / "stat").read_text())
    assert sorted(cpus) == [0, 1]  # the "cpu" total and the other lines are not CPUs
    assert cpus[0] == CpuTicks(busy=39770 + 0 + 14471 + 0 + 2402, steal=44, idle=34874 + 180)
    assert cpus[1] == CpuTicks(busy=40331 + 0 + 14538 + 0 + 2466, steal=43, idle=34195 + 141)


def test_a_snapshot_sums_the_session_with_its_reaped_children_and_reads_the_cpus():
    stat = (FIXTURES / "stat").read_text()
    snapshot = ("100\n4096\n" + "".join(line + "\n" for line in stat.splitlines() if line.startswith("cpu"))
                # the leader: utime 250, stime 50, cutime 300 (a worker it reaped), cstime 100
                + "42 (python3 -m x) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 300 100 20 0 1 0 1000 100000 2560 "
                  "18446744073709551615\n"
                + "43 (a) (b)) R 42 42 42 0 -1 4194560 100 0 0 0 100 0 0 0 20 0 1 0 1001 100000 1280 "
                  "18446744073709551615\n")
    reading = parse_snapshot(snapshot)
    assert reading.server_cpu_s == (250 + 50 + 300 + 100 + 100) / 100
    assert (reading.server_rss, reading.server_processes, reading.ticks) == ((2560 + 1280) * 4096, 2, 100)
    assert reading.cpus == parse_proc_stat(stat)
    assert reading.processes == {42: (250 + 50) / 100, 43: 100 / 100}  # each one's own, without its children's


def test_the_machines_cores_are_over_the_tools_seconds_and_only_the_cpus_in_play():
    first = Reading(None, 0, 0, {0: CpuTicks(100, 0, 0), 1: CpuTicks(100, 10, 0)}, ticks=100)
    last = Reading(None, 0, 0, {0: CpuTicks(300, 0, 0), 1: CpuTicks(150, 60, 0)}, ticks=100)
    assert host_cores(first, last, (), seconds=2.0) == {"host_cpus": 2, "host_busy_cores": 1.25, "steal_cores": 0.25}
    assert host_cores(first, last, (1,), seconds=2.0) == {"host_cpus": 1, "host_busy_cores": 0.25, "steal_cores": 0.25}
    # A window longer than the tool's seconds cannot make more cores than there are CPUs.
    assert host_cores(first, last, (0,), seconds=1.0)["host_busy_cores"] == 1.0


def test_other_processes_are_the_machine_less_the_server_the_co_located_load_and_the_harness():
    first = Reading(10.0, 0, 1, {0: CpuTicks(0, 0, 0), 1: CpuTicks(0, 0, 0)}, ticks=100)
    last = Reading(11.8, 2**20, 3, {0: CpuTicks(200, 0, 0), 1: CpuTicks(180, 20, 0)}, ticks=100)
    placement = Placement(colocated=(True, False), harness_here=True)
    sample = run_sample(first, last, placement, seconds=2.0, wall=2.2, harness_cpu_s=0.04, loadgen_cpu_s=[1.0, 1.5])
    assert sample["server_cores"] == 0.9 and sample["loadgen_cores"] == 1.25 and sample["harness_cores"] == 0.02
    assert sample["host_busy_cores"] == 1.9 and sample["steal_cores"] == 0.1
    assert sample["other_cores"] == pytest.approx(1.9 - 0.9 - 0.5 - 0.02)  # the second load host is elsewhere
    assert set(run_sample(first, None, placement, seconds=2.0, wall=2.2, harness_cpu_s=0.0,
                          loadgen_cpu_s=[None])) == {"wall_s", "harness_cores"}  # nothing read at the end


def test_the_busiest_process_is_over_the_processes_seen_at_both_ends():
    first = Reading(1.0, 0, 3, {0: CpuTicks(0, 0, 0)}, ticks=100, processes={1: 0.0, 2: 0.5, 3: 0.2})
    last = Reading(4.0, 0, 3, {0: CpuTicks(100, 0, 0)}, ticks=100, processes={1: 0.1, 2: 2.4, 4: 9.0})
    sample = run_sample(first, last, Placement(), seconds=2.0, wall=2.1, harness_cpu_s=0.0, loadgen_cpu_s=[])
    assert sample["busiest_process_cores"] == 0.95  # pid 2: 1.9 s in 2 s; pid 4 started meanwhile, 3 ended
    no_pids = Reading(1.0, 0, 1, {0: CpuTicks(0, 0, 0)}, ticks=100)
    assert "busiest_process_cores" not in run_sample(no_pids, no_pids, Placement(), seconds=2.0, wall=2.1,
                                                     harness_cpu_s=0.0, loadgen_cpu_s=[])


def test_a_busy_server_is_seen_locally_and_by_the_machine():
    server = subprocess.Popen([sys.executable, "-c", BURN], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
    try:
        window = Window(LocalHost(), server.pid, start_time(server.pid))
        assert not window.remote  # psutil and /proc/stat read it here
        window.open()
        burn(server)
        window.close()
    finally:
        server.kill()
        server.wait()
    sample = window.sample(1.0, [])  # as if the load tool had run 1 s: cores are CPU seconds here
    assert sample["server_cores"] >= 0.5
    assert sample["host_busy_cores"] >= sample["server_cores"] - 0.03  # the machine saw it busy
    assert sample["host_cpus"] == os.cpu_count()
    assert sample["server_processes"] == 1 and sample["server_rss_mb"] > 1
    assert sample["busiest_process_cores"] == sample["server_cores"]  # its one process


def test_the_harness_measures_its_own_cpu():
    window = Window(LocalHost(), os.getpid(), start_time(os.getpid()))
    window.open()
    began = time.process_time()
    while time.process_time() - began < 0.3:  # the harness busy for 0.3 CPU seconds
        pass
    window.close()
    sample = window.sample(1.0, [])
    assert sample["harness_cores"] >= 0.3


def start_reaper():
    server = subprocess.Popen([sys.executable, "-c", REAPER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
    return server, int(server.stdout.readline())


def burn_kill_and_reap(server, worker: int) -> None:
    burn(server)  # the worker reads the server's input and writes to its output
    os.kill(worker, signal.SIGKILL)
    assert server.stdout.readline().strip() == "reaped"


def test_a_worker_killed_mid_window_keeps_its_cpu_here():
    server, worker = start_reaper()
    try:
        window = Window(LocalHost(), server.pid, start_time(server.pid))
        window.open()
        burn_kill_and_reap(server, worker)
        window.close()
    finally:
        server.kill()
        server.wait()
    sample = window.sample(1.0, [])
    assert sample["server_processes"] == 1  # the worker is gone ...
    assert sample["server_cores"] >= 0.5  # ... and the half CPU second it spun is still the server's


def test_a_worker_killed_mid_window_keeps_its_cpu_in_the_snapshot():
    # The command a lab host runs, run here on a real session.
    server, worker = start_reaper()
    try:
        def reading():
            return parse_snapshot(subprocess.run(snapshot_command(server.pid), shell=True, capture_output=True,
                                                 text=True, check=True).stdout)

        first = reading()
        burn_kill_and_reap(server, worker)
        last = reading()
    finally:
        server.kill()
        server.wait()
    assert (first.server_processes, last.server_processes) == (2, 1)
    assert last.server_cpu_s - first.server_cpu_s >= 0.5
    assert sorted(last.cpus) == list(range(os.cpu_count()))


@pytest.mark.lab
def test_the_same_through_ssh_on_a_lab_host(lab_connect):
    host = lab_connect("server")
    pid = host.start([sys.executable, "-c", SPIN], log="/tmp/twisted-lab-sampling.log")
    try:
        window = Window(host, pid)
        assert window.remote
        with Sessions([host]) as sessions:
            window.open()
            (_, first, _), = sessions.run([(0, snapshot_command(pid))], timeout=10)
            window.opened(first)
            time.sleep(0.5)
            (_, last, _), = sessions.run([(0, snapshot_command(pid))], timeout=10)
        window.close(last)
    finally:
        host.stop(pid)
    sample = window.sample(None, [])
    assert sample["server_cores"] > 0.3 and sample["host_busy_cores"] >= sample["server_cores"] - 0.05
    assert sample["server_processes"] == 1 and "loadgen_cores" not in sample
    assert sample["busiest_process_cores"] == sample["server_cores"]
