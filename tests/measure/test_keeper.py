"""bench.measure.keeper: a run's servers end with its harness, SIGKILLed or cut off, here and on a lab host."""
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest
from support import alive, free_port, group_of, settings, setsid_group

from bench.hosts import LocalHost
from bench.measure import keeper
from bench.measure.loadgens.wrk import Wrk
from bench.measure.loading import Loader
from bench.measure.runner import Runner
from bench.measure.servers import Rig

PROJECT = Path(__file__).resolve().parents[2]
HARNESS = Path(__file__).with_name("keeper_harness.py")


def start_harness(tmp_path, *lab: str) -> tuple[subprocess.Popen, dict]:
    harness = subprocess.Popen([sys.executable, str(HARNESS), str(tmp_path / "run"), str(free_port()), *lab],
                               cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(PROJECT)})
    line = harness.stdout.readline()
    if not line:
        harness.wait()
        pytest.fail(f"the harness did not start its servers: {harness.stderr.read()}")
    return harness, json.loads(line)


def next_run(tmp_path) -> Runner:
    local = LocalHost()
    return Runner(Rig(server=local, loaders=(Loader(local, Wrk(), "wrk"),), address="127.0.0.1",
                      found={}, server_cpus=1), settings(tmp_path), tmp_path / "next")


@contextmanager
def harnessed(tmp_path, *lab: str):
    """A harness with its servers up (and a group nobody should touch): (harness, its line, the servers' processes)."""
    untouched = setsid_group()
    try:
        harness, started = start_harness(tmp_path, *lab)
        # psutil's Process knows its start time: the cleanup below cannot hit a reused pid.
        servers = [psutil.Process(pid) for leader in started["pids"] for pid in group_of(leader)]
        try:
            assert len(servers) == 6, servers  # Nginx's master and 2 workers, Twisted's master and 2 workers
            yield harness, started, servers
            assert len(group_of(untouched.pid)) == 2 and all(map(alive, group_of(untouched.pid)))
        finally:
            harness.kill()
            for server in servers:
                if alive(server):
                    server.kill()
            subprocess.run(["rm", "-rf", started["workdir"]])
    finally:
        os.killpg(untouched.pid, signal.SIGKILL)
        untouched.wait()


def servers_end_with_a_killed_harness(tmp_path, *lab: str) -> None:
    with harnessed(tmp_path, *lab) as (harness, _, servers):
        harness.kill()  # SIGKILL: no finally, no signal handler runs
        harness.wait()
        deadline = time.monotonic() + 10
        while any(alive(server) for server in servers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [server for server in servers if alive(server)], "servers outlived their harness"


def test_the_servers_of_a_sigkilled_harness_stop_within_seconds(tmp_path):
    servers_end_with_a_killed_harness(tmp_path)


@pytest.mark.lab
def test_the_servers_on_a_lab_host_stop_when_the_harness_and_its_ssh_connection_go(tmp_path, lab):
    server = lab.host("server")
    servers_end_with_a_killed_harness(tmp_path, server.spec, str(server.key), str(server.known_hosts))


def test_what_a_killed_keeper_left_is_stopped_by_the_next_run_which_says_so(tmp_path):
    host = LocalHost()
    with harnessed(tmp_path) as (harness, started, servers):
        folder = started["workdir"]
        assert keeper.reap(host, folder) is None  # its keeper runs: a live run's servers are not reaped
        assert all(map(alive, servers))
        os.kill(int(Path(folder, "keeper").read_text().split()[0]), signal.SIGKILL)  # killed with its harness
        harness.kill()
        harness.wait()
        time.sleep(0.5)
        assert all(map(alive, servers)), "nothing watches them now"
        said = next_run(tmp_path).reap()  # as the next `inv bench` does, before it starts anything
        assert said.startswith("local: stopped 2 server processes an earlier run left running when its harness "
                               "went away (pid ")  # (or more: this machine's other stale runs, if any)
        assert set(map(str, started["pids"])) <= set(said.rstrip(")").split("(pid ")[1].split(", "))
        time.sleep(0.3)
        assert not [server for server in servers if alive(server)]
        assert keeper.reap(host, folder) is None
