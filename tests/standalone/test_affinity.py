"""server.py's --cpus: the list syntax, the round-robin deal, and pinning with or without os.sched_setaffinity."""
import subprocess
import sys
from pathlib import Path

import pytest

from bench.standalone import affinity

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("text, cpus", [
    ("0", (0,)), ("1-3", (1, 2, 3)), ("0,2-3", (0, 2, 3)), ("3,1,1", (1, 3)), (" 0 , 1 ", (0, 1)),
])
def test_parse_cpu_list(text, cpus):
    assert affinity.parse_cpu_list(text) == cpus


@pytest.mark.parametrize("text", ["", "x", "1,", "-1", "3-1", "1-", "0x1", "1 2"])
def test_parse_cpu_list_refuses_with_the_expected_form(text):
    with pytest.raises(ValueError, match=rf"^bad CPU list {text!r}: write it as 0,2-3$"):
        affinity.parse_cpu_list(text)


@pytest.mark.parametrize("cpus, index, cpu", [
    ((0,), 0, 0), ((0,), 3, 0), ((0, 1), 0, 0), ((0, 1), 1, 1), ((0, 1), 2, 0), ((2, 5, 7), 4, 5),
])
def test_worker_cpu_deals_round_robin(cpus, index, cpu):
    assert affinity.worker_cpu(cpus, index) == cpu
    assert affinity.placement(cpus, index) == {"cpu": cpu}


def test_no_cpus_changes_nothing():
    assert affinity.placement((), 3) == {}
    assert affinity.pin_process((), 3) is None and affinity.pin_process((), None) is None


# In a child process, so pytest's own affinity stays as it was.
PIN = """
import os, sys
if sys.argv[1] == "ctypes":  # as on Debian's PyPy 3.9, which lacks both
    del os.sched_setaffinity, os.sched_getaffinity
from bench.standalone import affinity
print(affinity.pin_process((0,), int(sys.argv[2])) if sys.argv[2] != "master" else affinity.pin_process((0,), None))
print(sorted(affinity.allowed_cpus()))
print(affinity.pin_process((4095,), 0))
"""


@pytest.mark.parametrize("way", ["os", "ctypes"])
@pytest.mark.parametrize("worker", ["0", "1", "master"])
def test_pin_process_for_real(way, worker):
    done = subprocess.run([sys.executable, "-c", PIN, way, worker], capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert done.returncode == 0, done.stderr
    pinned, allowed, refused = done.stdout.splitlines()
    assert (pinned, allowed) == ("None", "[0]")
    assert refused.startswith("cannot pin worker 0 to CPU 4095: ") and refused.endswith(
        "; pick --cpus from the CPUs this host allows")
