"""bench.hosts.ssh: strict host keys and reachability, against a real sshd in the lab."""
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from bench import lab as namespace_lab
from bench.errors import BenchError
from bench.hosts import SSHHost, connect
from bench.hosts.scripts import KILLED, STOPPED
from bench.lab import LabUser
from bench.lab.users import remove as remove_user


def _empty(tmp_path):
    path = tmp_path / "known_hosts"
    path.write_text("")
    return path


@pytest.mark.lab
def test_ssh_host_is_ssh(lab_connect, lab):
    host = lab_connect("load")
    assert isinstance(host, SSHHost) and not host.is_local
    assert host.name == lab.host("load").spec
    assert host.run("ip -o -4 addr show dev eth0").stdout.split()[3] == f"{lab.host('load').address}/24"


@pytest.mark.lab
def test_unknown_host_key_is_refused(lab, tmp_path):
    known = _empty(tmp_path)
    with pytest.raises(BenchError, match=f"^{lab.host('server').spec}: unknown host key; .*--trust-new-host"):
        namespace_lab.connect(lab.host("server"), known_hosts=str(known))
    assert known.read_text() == ""


@pytest.mark.lab
def test_trust_new_records_the_real_key(lab, tmp_path):
    server = lab.host("server")
    known = _empty(tmp_path)
    first = namespace_lab.connect(server, known_hosts=str(known), trust_new=True)
    first.close()
    name, kind, blob = known.read_text().split()
    real_kind, real_blob = server.host_keys[0].with_suffix(".pub").read_text().split()[:2]
    assert (name, kind, blob) == (f"[{server.address}]:{server.port}", real_kind, real_blob)
    again = namespace_lab.connect(server, known_hosts=str(known))
    assert again.run("true").ok
    again.close()


@pytest.mark.lab
def test_changed_host_key_is_refused(lab, tmp_path):
    server, load = lab.host("server"), lab.host("load")
    known = tmp_path / "known_hosts"
    # The load host's key filed under the server's name: what a reinstalled server looks like.
    known.write_text(namespace_lab.known_hosts_line(server, load.host_keys[0].with_suffix(".pub").read_text()))
    with pytest.raises(BenchError) as error:
        namespace_lab.connect(server, known_hosts=str(known), trust_new=True)
    message = str(error.value)
    assert message.startswith(f"{server.spec}: host key changed")
    assert str(known) in message and "\n" not in message


@pytest.mark.lab
def test_wrong_client_key_is_refused(lab):
    server = lab.host("server")
    # A real private key, but not one the lab authorizes.
    with pytest.raises(BenchError, match=f"^{server.spec}: authentication failed"):
        namespace_lab.connect(server, key_filename=str(server.host_keys[0]))


@pytest.mark.lab
def test_unreachable_host_names_it(lab):
    nobody = lab.subnet.rsplit(".", 1)[0] + ".250"
    started = time.monotonic()
    with pytest.raises(BenchError, match=rf"^root@{nobody}:2222: unreachable"):
        connect(f"root@{nobody}:2222", key_filename=str(lab.key), known_hosts=str(lab.known_hosts),
                connect_timeout=0.5)
    assert time.monotonic() - started < 2  # the timeout holds below a second


@pytest.mark.lab
def test_refused_port_names_host(lab):
    load = lab.host("load")
    with pytest.raises(BenchError, match=rf"^root@{load.address}:2299: unreachable .*sshd runs"):
        connect(f"root@{load.address}:2299", key_filename=str(lab.key), known_hosts=str(lab.known_hosts))


@pytest.fixture
def sudo_user(lab):
    """A non-root user on the lab hosts whose sudo asks for a password: (name, password); removed after."""
    if not shutil.which("sudo") or not shutil.which("useradd"):
        pytest.skip("needs sudo and useradd (apt-get install sudo)")
    name, password = f"tlab{secrets.token_hex(3)}", secrets.token_urlsafe(12)
    subprocess.run(["useradd", "-m", "-s", "/bin/bash", name], check=True)
    try:
        subprocess.run(["chpasswd"], input=f"{name}:{password}\n", text=True, check=True)
        keys = Path(f"/home/{name}/.ssh/authorized_keys")
        keys.parent.mkdir(mode=0o700)
        keys.write_text(Path(f"{lab.key}.pub").read_text())
        shutil.chown(keys.parent, name, name)
        shutil.chown(keys, name, name)
        rule = Path(f"/etc/sudoers.d/{name}")
        rule.write_text(f"{name} ALL=(ALL) ALL\n")
        rule.chmod(0o440)
        yield name, password
    finally:
        # As `inv lab.down` removes its user: after its SSH sessions end (userdel refuses a user still running).
        remove_user(LabUser(name, created=True, sudoers=Path(f"/etc/sudoers.d/{name}"), key_line=""))


@pytest.mark.lab
def test_sudo_without_the_password_is_one_line_and_with_it_runs_as_root(lab, sudo_user):
    name, password = sudo_user
    server = lab.host("server")
    target = f"{name}@{server.address}:{server.port}"
    without = connect(target, key_filename=str(lab.key), known_hosts=str(lab.known_hosts))
    try:
        assert without.run("id -u").stdout.strip() != "0"
        with pytest.raises(BenchError) as error:
            without.sudo("id -u")
        assert str(error.value) == (f"{target}: sudo needs {name}'s password: set BENCH_SUDO_PASSWORD in the "
                                    f"environment, or allow sudo without one")
    finally:
        without.close()
    with_password = connect(target, key_filename=str(lab.key), known_hosts=str(lab.known_hosts),
                            sudo_password=password)
    try:
        assert with_password.sudo("id -u").stdout.strip() == "0"
    finally:
        with_password.close()


@pytest.mark.lab
def test_a_wrong_sudo_password_is_one_line_naming_the_variable(lab, sudo_user):
    name, password = sudo_user
    server = lab.host("server")
    target = f"{name}@{server.address}:{server.port}"
    host = connect(target, key_filename=str(lab.key), known_hosts=str(lab.known_hosts), sudo_password="not-" + password)
    try:
        with pytest.raises(BenchError) as error:
            host.sudo("id -u")
        assert str(error.value) == (f"{target}: sudo refused the password in BENCH_SUDO_PASSWORD for {name}; "
                                    f"set it to that user's password")
        assert host.run("id -un").stdout.strip() == name  # the connection still serves
    finally:
        host.close()


@pytest.mark.lab
def test_sudos_prompt_stays_out_of_stderr_and_errors(lab, sudo_user):
    name, password = sudo_user
    server = lab.host("server")
    host = connect(f"{name}@{server.address}:{server.port}", key_filename=str(lab.key),
                   known_hosts=str(lab.known_hosts), sudo_password=password)
    try:
        result = host.sudo("echo out; echo err >&2; exit 3", warn=True)
        assert (result.stdout, result.stderr, result.exited) == ("out\n", "err\n", 3)
        with pytest.raises(BenchError, match=r"exited 3: err$"):
            host.sudo("echo err >&2; exit 3")
    finally:
        host.close()


@pytest.mark.lab
def test_stop_is_one_command_and_kills_the_group_of_a_process_that_ignores_sigterm(lab_connect, tmp_path):
    host = lab_connect("server")
    script = tmp_path / "stubborn"
    script.write_text("#!/bin/sh\ntrap '' TERM\nsleep 60 &\nwait\n")
    script.chmod(0o755)
    pid = host.start([str(script)], log=str(tmp_path / "stubborn.log"))
    time.sleep(0.3)
    commands = []
    run = host.connection.run
    host.connection.run = lambda command, **kw: commands.append(command) or run(command, **kw)
    began = time.monotonic()
    assert host.stop(pid, timeout=0.5) == KILLED
    assert 0.45 < time.monotonic() - began < 3
    assert len(commands) == 1
    assert not host.alive(pid)
    group = subprocess.run(["pgrep", "-g", str(pid)], capture_output=True, text=True).stdout.split()
    assert all(Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
               for member in group if Path(f"/proc/{member}").exists()), "its sleep still runs"
    quick = host.start(["sleep", "30"], log=str(tmp_path / "quick.log"))
    assert host.stop(quick, timeout=5) == STOPPED and not host.alive(quick)


@pytest.mark.lab
def test_get_of_a_missing_file_fails_cleanly_and_leaves_nothing(lab_connect, tmp_path):
    host = lab_connect("server")
    with pytest.raises(BenchError, match=f"^{host.name}: cannot read /nonexistent/x.log: "):
        host.get("/nonexistent/x.log", tmp_path / "x.log")
    assert not (tmp_path / "x.log").exists()
    assert host.run("true").ok  # the connection still serves
