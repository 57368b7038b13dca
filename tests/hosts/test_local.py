"""bench.hosts.local: what this machine's child processes inherit."""
import os

from bench.hosts import SUDO_PASSWORD_VARIABLE, LocalHost


def test_the_sudo_password_reaches_no_local_child(monkeypatch, tmp_path):
    monkeypatch.setenv(SUDO_PASSWORD_VARIABLE, "hunter2-secret")
    host = LocalHost()
    ran = host.run("env; printf 'BENCH_PROBE=%s' \"$BENCH_PROBE\"", env={"BENCH_PROBE": "kept"}).stdout
    assert "hunter2-secret" not in ran and "BENCH_PROBE=kept" in ran
    log = tmp_path / "child.log"
    pid = host.start(["env"], log=str(log))
    while host.alive(pid):
        pass
    assert "PATH=" in log.read_text() and "hunter2-secret" not in log.read_text()
    assert os.environ[SUDO_PASSWORD_VARIABLE] == "hunter2-secret"  # the harness itself still reads it
