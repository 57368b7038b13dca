"""CPU sampling of a real server process, here and through a lab host's shell."""
import subprocess
import sys
import time

import pytest

from bench.hosts import LocalHost
from bench.hosts.local import start_time
from bench.measure.sampling import Window, parse_session_stat, snapshot_command
from bench.measure.together import Sessions

SPIN = "import time\nwhile True: pass\n"


def test_parse_session_stat_sums_the_session():
    stat = ("100\n4096\n"
            "42 (python3 -m x) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 1000 100000 2560 18446744073709551615\n"
            "43 (a) (b)) R 42 42 42 0 -1 4194560 100 0 0 0 100 0 0 0 20 0 1 0 1001 100000 1280 18446744073709551615\n")
    cpu, rss, count = parse_session_stat(stat)
    assert (cpu, rss, count) == (4.0, (2560 + 1280) * 4096, 2)


def test_a_busy_server_is_seen_locally_with_the_load_generators_cpu():
    server = subprocess.Popen([sys.executable, "-c", SPIN], start_new_session=True)
    try:
        window = Window(LocalHost(), server.pid, start_time(server.pid))
        assert not window.remote  # psutil reads it here
        window.open()
        subprocess.run(["sleep", "0.5"])
        sample = window.close(loadgen_cpu_s=0.25)
    finally:
        server.kill()
        server.wait()
    assert sample["server_cores"] > 0.5
    assert sample["loadgen_cores"] == pytest.approx(0.25 / sample["wall_s"], rel=0.01)
    assert sample["server_processes"] == 1 and sample["server_rss_mb"] > 1


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
        sample = window.close(last)
    finally:
        host.stop(pid)
    assert sample["server_cores"] > 0.3
    assert sample["server_processes"] == 1 and "loadgen_cores" not in sample


def test_a_window_without_readings_is_only_its_wall_time():
    window = Window.__new__(Window)
    window.processes, window.first, window.began = None, None, 0.0
    window.opened("garbage")
    assert set(window.close("also garbage")) == {"wall_s"}
