"""bench.hosts.local: what this machine's child processes inherit."""
import os

from bench import sudo
from bench.hosts import SUDO_PASSWORD_VARIABLE, LocalHost


def test_a_sudo_password_set_after_the_package_loaded_reaches_no_local_child(monkeypatch, tmp_path):
    monkeypatch.setattr(sudo, "_read", [])  # this test's password stays out of the others'
    monkeypatch.setenv(SUDO_PASSWORD_VARIABLE, "hunter2-secret")
    host = LocalHost()
    ran = host.run("env; printf 'BENCH_PROBE=%s' \"$BENCH_PROBE\"", env={"BENCH_PROBE": "kept"}).stdout
    assert "hunter2-secret" not in ran and "BENCH_PROBE=kept" in ran
    log = tmp_path / "child.log"
    pid = host.start(["env"], log=str(log))
    while host.alive(pid):
        pass
    assert "PATH=" in log.read_text() and "hunter2-secret" not in log.read_text()
    assert SUDO_PASSWORD_VARIABLE not in os.environ
    assert sudo.sudo_password() == "hunter2-secret"  # the harness itself still has it
