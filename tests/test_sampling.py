"""CPU sampling of real processes, here and through a host's shell."""
import subprocess
import sys

import pytest

from bench.hosts import LocalHost
from bench.sampling import Window, parse_proc_stat, parse_session_stat

BUSY = "import time\nend = time.time() + 1.0\nwhile time.time() < end: pass\n"


def test_parse_session_stat_sums_the_session():
    stat = ("100\n4096\n"
            "42 (python3 -m x) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 1000 100000 2560 18446744073709551615\n"
            "43 (a) (b)) R 42 42 42 0 -1 4194560 100 0 0 0 100 0 0 0 20 0 1 0 1001 100000 1280 18446744073709551615\n")
    cpu, rss, count = parse_session_stat(stat)
    assert (cpu, rss, count) == (4.0, (2560 + 1280) * 4096, 2)


def test_parse_proc_stat_counts_busy_time_only():
    assert parse_proc_stat("100\ncpu  100 0 50 1000 500 10 40 0 0 0\n") == 2.0


def test_a_busy_server_and_load_generator_are_seen_locally():
    host = LocalHost()
    server = subprocess.Popen([sys.executable, "-c", "import time\nwhile True: pass\n"], start_new_session=True)
    try:
        window = Window(host, server.pid, host)
        host.run(f"{sys.executable} -c '{BUSY}'")  # the "load generator": a child that ends
        sample = window.close()
    finally:
        server.kill()
        server.wait()
    assert sample["server_cores"] > 0.5
    assert sample["loadgen_cores"] > 0.5
    assert sample["server_processes"] == 1 and sample["server_rss_mb"] > 1


@pytest.mark.lab
def test_the_same_through_ssh_on_a_lab_host(lab_connect):
    host = lab_connect("server")
    pid = host.start([sys.executable, "-c", "import time\nwhile True: pass\n"], log="/tmp/twisted-lab-sampling.log")
    try:
        window = Window(host, pid, host)
        host.run(f"{sys.executable} -c '{BUSY}'")
        sample = window.close()
    finally:
        host.stop(pid)
    assert sample["server_cores"] > 0.3
    assert sample["server_processes"] == 1
