"""bench.measure.servers.core: each step on the server host is one command, its waiting done there.

Each test runs on this machine and, with the lab, over SSH to a real sshd, counting the
commands a step sends.
"""
import os
import signal
import time

import psutil
import pytest
from support import alive, environments, group_of, setsid_group, twisted_cell

from bench.hosts import LocalHost
from bench.hosts.local import start_time
from bench.hosts.scripts import KILLED, REUSED, STOPPED, TERM, report, stop_script
from bench.measure.loading import Loader
from bench.measure.servers import CellFailed, Rig, Running, Servers
from bench.records import CellRecord


@pytest.fixture(params=["local", pytest.param("ssh", marks=pytest.mark.lab)])
def host(request):
    if request.param == "local":
        return LocalHost()
    return request.getfixturevalue("lab_connect")("server")


class Counted:
    """Counts the commands ``host`` runs (its round trips for a shell)."""

    def __init__(self, host):
        self.commands: list[str] = []
        self.original = host.run

        def run(command, **kw):
            self.commands.append(command)
            return self.original(command, **kw)

        host.run = run


def servers_on(host, tmp_path, interpreter: str, start_timeout: float = 5.0) -> Servers:
    rig = Rig(server=host, loaders=(Loader(LocalHost(), None, "wrk"),), address="127.0.0.1",
              found={"twisted": environments(cpython=interpreter)}, server_cpus=1)
    workdir = host.run("mktemp -d /tmp/twisted-lab-servers-test.XXXXXXXX").stdout.strip()
    servers = Servers(rig, workdir=workdir, run_dir=tmp_path / "run", interface="127.0.0.1", backlog=16,
                      server_log=False, start_timeout=start_timeout)
    return servers


def remove(host, servers: Servers) -> None:
    servers.release()
    host.run(f"rm -rf {servers.workdir}", warn=True)


def executable(host, path: str, text: str) -> str:
    host.write_text(path, text, mode=0o755)
    return path


def test_a_server_that_exits_at_once_fails_with_its_log_tail_in_one_command(host, tmp_path):
    servers = servers_on(host, tmp_path, interpreter="/bin/sh")
    try:
        # server.py is not there: /bin/sh says so and exits.
        counted = Counted(host)
        cell = twisted_cell()
        record = CellRecord(cell=cell)
        running = servers.start(cell, 18555, record)
        assert len(counted.commands) == 1  # started and waited for in one command
        assert running.pid and running.state == "exited"
        with pytest.raises(CellFailed) as failure:
            servers.wait_ready(running)
        assert len(counted.commands) == 1  # the tail came with the start
        message = str(failure.value)
        assert message.startswith(f"{cell.label} exited at start on {host}: ")
        assert "server.py" in message and "\n" not in message
        servers.stop(running, record)
        assert running.stopped and record.server_log  # its log came home
        assert "server.py" in (servers.run_dir / record.server_log).read_text()
    finally:
        remove(host, servers)


def test_a_server_that_never_gets_ready_is_failed_after_the_timeout_and_stopped(host, tmp_path):
    servers = servers_on(host, tmp_path, interpreter="/bin/sh", start_timeout=1.0)
    try:
        servers.rig.found = {"twisted": environments(cpython=executable(host, f"{servers.workdir}/silent",
                                                                         "#!/bin/sh\nexec sleep 30\n"))}
        cell = twisted_cell()
        record = CellRecord(cell=cell)
        began = time.monotonic()
        running = servers.start(cell, 18556, record)
        assert running.state == "starting"
        with pytest.raises(CellFailed, match=r"did not answer .* within 1s \(no listening event\)"):
            servers.wait_ready(running)
        assert time.monotonic() - began < 4
        servers.stop(running, record)
        time.sleep(0.1)
        assert not psutil.pid_exists(running.pid) or psutil.Process(running.pid).status() == psutil.STATUS_ZOMBIE
    finally:
        remove(host, servers)


def test_stop_of_a_process_that_ignores_sigterm_kills_its_group_within_the_timeout(host, tmp_path):
    script = executable(host, f"/tmp/twisted-lab-stubborn-{os.getpid()}",
                        "#!/bin/sh\ntrap '' TERM\nsleep 60 &\necho child $!\nwait\nwait\n")
    log = f"/tmp/twisted-lab-stubborn-{os.getpid()}.log"
    try:
        pid = host.start([script], log=log)
        deadline = time.monotonic() + 5
        while "child" not in host.read_text(log) and time.monotonic() < deadline:
            time.sleep(0.05)
        child = int(host.read_text(log).split()[1])
        counted = Counted(host)
        began = time.monotonic()
        result = host.run(stop_script(pid, host.launched[pid], ((TERM, 0.5),)), warn=True)
        took = time.monotonic() - began
        assert report(result.stdout)[0] == {"was": "running", "stop": "late"}
        assert 0.45 < took < 3
        assert len(counted.commands) == 1
        time.sleep(0.1)
        for gone in (pid, child):  # the lab shares this machine's pids
            assert not psutil.pid_exists(gone) or psutil.Process(gone).status() == psutil.STATUS_ZOMBIE
        # Host.stop says the same: it did not stop on SIGTERM, and its group is killed.
        pid = host.start([script], log=log)
        time.sleep(0.3)
        began = time.monotonic()
        assert host.stop(pid, timeout=0.5) == KILLED
        assert time.monotonic() - began < 3
        time.sleep(0.1)
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    finally:
        host.run(f"rm -f {script} {log}", warn=True)


def test_stop_reports_a_server_already_gone_and_flags_the_cell(host, tmp_path):
    servers = servers_on(host, tmp_path, interpreter="/bin/sh")
    try:
        sleeper = executable(host, f"{servers.workdir}/sleeper", "#!/bin/sh\nexec sleep 30\n")
        cell = twisted_cell()
        pid = host.start([sleeper], log=f"{servers.workdir}/logs/{cell.id}.log")
        record = CellRecord(cell=cell)
        running = Running(cell=cell, port=1, url="", pid=pid, started=host.launched[pid])
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
        counted = Counted(host)
        servers.stop(running, record)
        assert record.reasons == [f"{cell.label} exited during the run on {host}"]
        assert counted.commands[0].startswith(f"pid={pid} ") and len(counted.commands) == 1  # the log: sftp
        assert record.server_log
    finally:
        remove(host, servers)


def test_a_missing_log_is_collected_as_absent_without_asking_first(host, tmp_path):
    servers = servers_on(host, tmp_path, interpreter="/bin/sh")
    try:
        cell = twisted_cell()
        record = CellRecord(cell=cell)
        counted = Counted(host)
        servers.collect(Running(cell=cell, port=1, url=""), record)
        assert record.server_log is None and record.reasons == []
        assert not list((servers.run_dir / "logs").glob("*")), "no empty file left behind"
        if not host.is_local:
            assert len(counted.commands) <= 1  # the sftp get fails; one command tells absent from unreadable
    finally:
        remove(host, servers)


def test_a_pid_that_names_another_process_now_is_left_alone_with_its_group(host, tmp_path):
    servers = servers_on(host, tmp_path, interpreter="/bin/sh")
    leader = setsid_group()
    members = [psutil.Process(pid) for pid in group_of(leader.pid)]
    try:
        cell = twisted_cell()
        # The record of a server that was started with this pid, earlier (so at another start time).
        record = CellRecord(cell=cell)
        earlier = Running(cell=cell, port=1, url="", pid=leader.pid, started=start_time(leader.pid) - 1)
        servers.stop(earlier, record)
        assert record.status == "flagged"
        assert record.reasons == [f"{cell.label} exited during the run on {host}; pid reused: left alone "
                                  f"(pid {leader.pid} is another process now)"]
        assert host.stop(leader.pid, timeout=1, started=start_time(leader.pid) + 1) == REUSED
        time.sleep(0.2)
        assert all(map(alive, members)), "the other group was signalled"
        # Its own start time: that is the process to stop, and its group goes with it.
        assert host.stop(leader.pid, timeout=5, started=start_time(leader.pid)) == STOPPED
        time.sleep(0.2)
        assert not any(map(alive, members))
    finally:
        for member in members:
            if alive(member):
                member.kill()
        leader.wait()
        remove(host, servers)

