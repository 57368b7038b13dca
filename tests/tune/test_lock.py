"""The tune lock on this machine, under a test root: taken, refused, freed by a run that dies."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.errors import BenchError
from bench.hosts import LocalHost
from bench.tune.lock import host_lock, lock_path

# Every test checks that the machine's own sysctls are as they were.
pytestmark = pytest.mark.usefixtures("machine_unchanged")

PROJECT = Path(__file__).resolve().parents[2]


def test_the_lock_is_refused_while_held_and_its_file_removed_after(tmp_path):
    host, lock = LocalHost(), Path(lock_path(str(tmp_path)))
    with host_lock(host, str(tmp_path)) as path:
        assert path == str(lock) and lock.read_text().strip().isdigit()
        with pytest.raises(BenchError, match=f"another `inv tune` is applying or reverting here .*{lock}"):
            with host_lock(host, str(tmp_path)):
                pass
    assert not lock.exists()
    with host_lock(host, str(tmp_path)):
        pass


def test_a_symlink_at_the_lock_is_refused_and_not_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.write_text("someone else's\n")
    lock = Path(lock_path(str(tmp_path / "root")))
    lock.parent.mkdir(parents=True)
    os.symlink(outside, lock)
    with pytest.raises(BenchError, match="symlink or not a plain file"):
        with host_lock(LocalHost(), str(tmp_path / "root")):
            pass
    assert outside.read_text() == "someone else's\n"


def test_a_run_that_dies_holding_the_lock_frees_it(tmp_path):
    hold = ("import sys, time\nfrom bench.hosts import LocalHost\nfrom bench.tune.lock import host_lock\n"
            "held = host_lock(LocalHost(), sys.argv[1])\nheld.__enter__()\nprint('held', flush=True)\ntime.sleep(60)\n")
    other = subprocess.Popen([sys.executable, "-c", hold, str(tmp_path)], cwd=PROJECT, stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline() == "held\n"
        with pytest.raises(BenchError, match="another `inv tune`"):
            with host_lock(LocalHost(), str(tmp_path)):
                pass
    finally:
        other.kill()
        other.wait()
    deadline = time.monotonic() + 5
    while True:
        try:
            with host_lock(LocalHost(), str(tmp_path)):
                break
        except BenchError:
            assert time.monotonic() < deadline, "the lock outlived the run that took it"
            time.sleep(0.2)
