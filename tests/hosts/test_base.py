"""bench.hosts.base: the same Host surface on this machine and over SSH to a real sshd in the lab."""
import os
import threading
import time

import psutil
import pytest
from support import alive, group_of, setsid_group

from bench.errors import BenchError
from bench.hosts import LocalHost
from bench.hosts.local import start_time
from bench.hosts.scripts import STOPPED


@pytest.fixture(params=["local", pytest.param("ssh", marks=pytest.mark.lab)])
def host(request):
    if request.param == "local":
        return LocalHost()
    return request.getfixturevalue("lab_connect")("server")


def test_run_captures_output(host):
    result = host.run("echo out; echo err >&2")
    assert (result.stdout, result.stderr, result.exited) == ("out\n", "err\n", 0)


def test_run_passes_env(host):
    assert host.run("printf %s \"$BENCH_PROBE\"", env={"BENCH_PROBE": "x y"}).stdout == "x y"


def test_failing_command_names_host(host):
    with pytest.raises(BenchError) as error:
        host.run("echo broken pipe >&2; exit 3")
    assert str(error.value) == f"{host.name}: `echo broken pipe >&2; exit 3` exited 3: broken pipe"


def test_failing_command_with_warn_returns_result(host):
    assert host.run("exit 4", warn=True).exited == 4


def test_command_timeout_names_host(host):
    started = time.monotonic()
    with pytest.raises(BenchError, match=f"^{host.name}: .*timed out after 0.3"):
        host.run("sleep 5", timeout=0.3)
    assert time.monotonic() - started < 3


def test_sudo_as_root(host):
    assert host.sudo("id -u").stdout.strip() == "0"


def test_write_text_replaces_atomically(host, tmp_path):
    path = tmp_path / "sub" / "conf.txt"
    host.write_text(str(path), "one\n")
    before = os.stat(path).st_ino
    host.write_text(str(path), "two\n", mode=0o600)
    assert host.read_text(str(path)) == "two\n"
    assert os.stat(path).st_ino != before  # a new file renamed over, never rewritten in place
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["conf.txt"]


def test_read_text_of_missing_file_names_host(host, tmp_path):
    with pytest.raises(BenchError, match=f"^{host.name}: .*missing.txt"):
        host.read_text(str(tmp_path / "missing.txt"))


def test_put_then_get_keeps_bytes_and_mode(host, tmp_path):
    source = tmp_path / "tool.sh"
    source.write_bytes(b"#!/bin/sh\necho \xff\n")
    source.chmod(0o750)
    remote = str(tmp_path / "remote" / "deep" / "tool.sh")
    host.put(source, remote)
    assert host.run(f"{remote} | od -An -tx1").stdout.split() == ["ff", "0a"]
    back = tmp_path / "back" / "tool.sh"
    host.get(remote, back)
    assert back.read_bytes() == source.read_bytes()
    assert os.stat(remote).st_mode & 0o777 == 0o750


def test_get_of_missing_file_names_host(host, tmp_path):
    with pytest.raises(BenchError, match=f"^{host.name}: .*nothing-here"):
        host.get(str(tmp_path / "nothing-here"), tmp_path / "copy")


def test_exists(host, tmp_path):
    (tmp_path / "there").write_text("")
    assert host.exists(str(tmp_path / "there"))
    assert not host.exists(str(tmp_path / "not there"))


def test_mkdir_and_expand(host, tmp_path):
    host.mkdir(str(tmp_path / "a" / "b"))
    assert (tmp_path / "a" / "b").is_dir()
    assert host.expand("~/x") == host.home() + "/x"
    assert host.expand("/abs/~") == "/abs/~"


def test_start_gives_real_pid_and_stop_ends_it(host, tmp_path):
    log = tmp_path / "logs" / "sleep.log"
    pid = host.start(["sleep", "30"], str(log), cwd=str(tmp_path))
    try:
        # Lab namespaces share this machine's pid space: the pid is checkable here.
        assert host.run(f"tr '\\0' ' ' </proc/{pid}/cmdline").stdout == "sleep 30 "
        assert host.alive(pid)
        assert log.exists()
        assert host.stop(pid, timeout=5) == STOPPED
        assert not host.alive(pid)
    finally:
        host.signal(pid, 9)


def test_start_writes_output_to_log(host, tmp_path):
    log = tmp_path / "echo.log"
    pid = host.start(["sh", "-c", "echo started; echo oops >&2"], str(log))
    deadline = time.monotonic() + 5
    while host.alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sorted(log.read_text().split()) == ["oops", "started"]


def test_start_of_missing_binary(host, tmp_path):
    with pytest.raises(BenchError, match=f"^{host.name}: cannot start no-such-server-bin: .*inv setup"):
        host.start(["no-such-server-bin", "--port", "1"], str(tmp_path / "x.log"))


def test_stop_kills_the_stragglers_of_a_group_whose_leader_was_reaped_at_once(host):
    # The leader ends on SIGTERM and its parent (a thread here) reaps it at once; its child ignores SIGTERM.
    leader = setsid_group("(trap '' TERM; exec sleep 60) & wait")
    threading.Thread(target=leader.wait, daemon=True).start()
    members = [psutil.Process(pid) for pid in group_of(leader.pid)]
    try:
        assert host.stop(leader.pid, timeout=5, started=start_time(leader.pid)) == STOPPED
        time.sleep(0.2)
        assert not [member for member in members if alive(member)]
    finally:
        for member in members:
            if alive(member):
                member.kill()
