"""bench.lab.users and `inv lab.up --user`: a non-root lab user with password sudo, made and removed;
then setup, tune and a small bench over SSH as that user, with the password in no file or output."""
import datetime
import ipaddress
import os
import pwd
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
from support import spied_environment

from bench import lab as namespace_lab
from bench.errors import BenchError
from bench.hosts import connect
from bench.lab import topology, users

PROJECT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.lab
NET_KEYS = ("net.core.somaxconn", "net.ipv4.tcp_max_syn_backlog", "net.ipv4.ip_local_port_range")
# A small package with no service, installed through sudo by `inv setup` when its archive is in apt's cache.
PROBE_PACKAGE = "sl"
# What `inv lab.up --user` runs, each watched by a spy for a sudo password left in the environment.
SPIED = ("ip", "ssh-keygen", "useradd", "chpasswd", "runuser", "visudo")
LEFT_OVER = "left-over-from-an-earlier-lab"
COMMON_SESSION = "session\t[default=1]\t\t\tpam_permit.so\nsession\trequisite\t\t\tpam_deny.so\n" \
                 "session\trequired\t\t\tpam_permit.so\nsession\trequired\tpam_unix.so\n"


@pytest.fixture(scope="session")
def sudo_machine(lab_machine):
    """Nothing; skips the test, naming what is missing, on a machine that cannot give the lab a sudo user."""
    problem = users.missing_sudo()
    if problem:
        pytest.skip(problem)
    if not users.exists("nobody"):
        pytest.skip("no passwd database with nobody in it")


def user_name() -> str:
    return f"tlab{secrets.token_hex(3)}"


def inv_lab(*args, env=None, timeout=120):
    """`inv lab.ARGS` from the repository, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=PROJECT, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, env=env, timeout=timeout)


@pytest.fixture(scope="module")
def user_lab(sudo_machine, tmp_path_factory):
    """`inv lab.up --user NAME` in a lab of its own, run with a BENCH_SUDO_PASSWORD left in the environment
    and real spies on PATH before the commands it runs: (lab, password, what it printed, the spies' log);
    `inv lab.down` after."""
    folder = tmp_path_factory.mktemp("user-lab")
    env, spies = spied_environment(folder, SPIED, {**os.environ, "BENCH_SUDO_PASSWORD": LEFT_OVER})
    root, name = folder / "lab", user_name()
    up = inv_lab("lab.up", "--root", str(root), "--user", name, env=env)
    lab = namespace_lab.load(root)
    try:
        assert up.returncode == 0, up.stderr
        password = re.search(r"export BENCH_SUDO_PASSWORD=(\S+)", up.stdout)[1]
        yield lab, password, up.stdout, spies
    finally:
        down = inv_lab("lab.down", "--root", str(root))
        assert down.returncode == 0, down.stderr
        assert not users.exists(name) and not Path(f"/home/{name}").exists()
        assert lab is None or not lab.user.sudoers.exists()


def test_up_with_a_user_makes_it_with_password_sudo_and_records_no_password(user_lab):
    lab, password, printed, _ = user_lab
    name = lab.user.name
    assert lab.user.created and pwd.getpwnam(name).pw_uid != 0
    assert f"inv bench --server-host {name}@{lab.host('server').address}:" in printed
    assert printed.count(password) == 1  # shown once
    assert password not in (lab.root / "lab.json").read_text()
    assert lab.user.sudoers.read_text().endswith(f"{name} ALL=(ALL:ALL) ALL\n")
    host = connect(lab.spec(lab.host("server")), key_filename=str(lab.key), known_hosts=str(lab.known_hosts),
                   sudo_password=password)
    try:
        assert host.run("id -un").stdout.strip() == name
        assert host.sudo("id -u").stdout.strip() == "0"
    finally:
        host.close()


def test_the_user_the_lab_makes_expires_and_up_says_what_its_sudo_grants(user_lab):
    lab, _, printed, _ = user_lab
    name = lab.user.name
    expires = datetime.date.today() + datetime.timedelta(days=3)  # lab.user_days in invoke.yaml
    assert lab.user.expires == expires.isoformat()
    shadow = subprocess.run(["getent", "shadow", name], capture_output=True, text=True, check=True).stdout
    assert int(shadow.split(":")[7]) == (expires - datetime.date(1970, 1, 1)).days
    assert f"(created by the lab, expires {expires.isoformat()}; sudo asks for its password)" in printed
    assert f"lets {name} run anything as root on this machine, not only in the lab" in printed


def test_the_sudo_password_left_in_the_environment_reaches_no_command_the_lab_runs(user_lab):
    lab, _, _, spies = user_lab
    spied = spies.read_text()
    assert {f"spy {name}" for name in SPIED} <= set(spied.splitlines()), spied[:300]
    assert "BENCH_SUDO_PASSWORD" not in spied and LEFT_OVER not in spied
    for state in namespace_lab.status(lab):  # each sshd, started through `ip netns exec`
        assert b"BENCH_SUDO_PASSWORD" not in Path(f"/proc/{state.sshd_pid}/environ").read_bytes()


def test_an_account_already_here_is_refused_unless_named_as_existing_and_nothing_is_made(sudo_machine, tmp_path):
    root = tmp_path / "lab"
    for args, message in (
            (["--user", "nobody"], "error: user nobody already exists on this machine, and the lab's user gets full "
                                   "root here through sudo: pick a new name, or pass `--existing-user nobody` (not "
                                   "--user) to give it to that account"),
            (["--existing-user", "tlabnosuchuser"], "error: no user tlabnosuchuser on this machine: --existing-user "
                                                    "names an account already here; `--user tlabnosuchuser` makes a "
                                                    "new one"),
            (["--user", "tlaba", "--existing-user", "nobody"], "error: give --user (a new account) or "
                                                               "--existing-user (one already here), not both"),
            (["--user", "tlabnosuchuser", "--user-days", "0"], "error: bad --user-days '0': give a whole number of "
                                                               "days from 1 to 365 (lab.user_days)")):
        done = inv_lab("lab.up", "--root", str(root), *args)
        assert (done.returncode, done.stderr) == (1, message + "\n")
        assert not root.exists()  # refused before any lab was made
    assert not users.exists("tlabnosuchuser")


def test_a_failed_up_with_a_user_removes_the_user_it_made_and_the_whole_lab(sudo_machine, tmp_path):
    # A stale home of root's where the new user is to live: useradd takes it, and then, the account
    # made, the lab cannot write the user's ~/.ssh there.
    name, root = user_name(), tmp_path / "lab"
    home = Path(f"/home/{name}")
    home.mkdir(mode=0o755)
    netns = set(subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split())
    try:
        done = inv_lab("lab.up", "--root", str(root), "--user", name)
        assert done.returncode == 1
        assert re.fullmatch(rf"error: `runuser` failed for the lab's user: [^\n]*{home}/.ssh[^\n]*"
                            r"Permission denied\n", done.stderr), done.stderr
        assert not users.exists(name)
        assert not list(topology.SUDOERS_D.glob(f"twisted-lab-*-{name}"))
        assert not (root / "lab.json").exists()
        left = set(subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()) - netns
        assert not [ns for ns in left if ns.startswith(topology.PREFIX)]
    finally:
        if users.exists(name):
            subprocess.run(["userdel", name], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def test_down_takes_the_sudo_rule_away_first_even_when_a_later_step_fails(sudo_machine, tmp_path):
    name = user_name()
    rule = topology.sudoers_file("fa11ed", name)
    lab = topology.layout(tmp_path, ("server",), ipaddress.IPv4Network("10.249.255.0/24"), "fa11ed")
    # A bridge name `ip` refuses: deleting it fails, after the host's sessions and sshd were stopped.
    lab = replace(lab, bridge="not a link").with_user(users.LabUser(name, created=False, sudoers=rule, key_line=""))
    rule.write_text(f"# {name}: nobody here\n")
    try:
        with pytest.raises(BenchError, match=r"^`ip link del not a link` failed: .* not a valid ifname"):
            namespace_lab.down(lab)
        assert not rule.exists()
    finally:
        rule.unlink(missing_ok=True)


def test_a_user_already_here_keeps_its_account_and_loses_only_what_the_lab_added(sudo_machine, tmp_path):
    name = user_name()
    subprocess.run(["useradd", "-m", "-s", "/bin/bash", name], check=True)
    mine = users.LabUser(name, created=True, sudoers=Path("/nonexistent"), key_line="")
    try:
        keys = Path(f"/home/{name}/.ssh/authorized_keys")
        subprocess.run(["runuser", "-u", name, "--", "sh", "-c", f"mkdir -p ~/.ssh && echo 'ssh-ed25519 AAAA own' >{keys}"],
                       check=True, cwd="/")
        lab = namespace_lab.up(tmp_path / "lab")
        try:
            lab, password = namespace_lab.add_user(lab, name, existing=True)
            assert password is None and not lab.user.created and lab.user.expires is None
            assert keys.read_text().splitlines() == ["ssh-ed25519 AAAA own", lab.user.key_line]
        finally:
            namespace_lab.down(lab)
        assert users.exists(name) and keys.read_text() == "ssh-ed25519 AAAA own\n"
        assert not lab.user.sudoers.exists()
    finally:
        users.remove(mine)


@pytest.fixture
def sudo_log(user_lab):
    """Every command the lab's user runs through sudo, logged by sudo itself to a file (rule removed after)."""
    lab = user_lab[0]
    folder = Path(tempfile.mkdtemp(prefix="sudo-log-"))
    log = folder / "sudo.log"
    rule = Path(f"/etc/sudoers.d/twisted-lab-test-{lab.user.name}")
    rule.write_text(f"Defaults:{lab.user.name} logfile={log}\n")
    rule.chmod(0o440)
    try:
        yield log
    finally:
        rule.unlink()
        log.unlink(missing_ok=True)
        folder.rmdir()


@pytest.fixture
def probe_package():
    """PROBE_PACKAGE's archive in apt's cache, so apt installs it inside a namespace, with no network;
    purged after, with the archive when the test fetched it. None when it cannot be had."""
    if subprocess.run(["dpkg", "-s", PROBE_PACKAGE], capture_output=True).returncode == 0:
        yield None
        return
    archives = set(Path("/var/cache/apt/archives").glob("*.deb"))
    fetched = subprocess.run(["apt-get", "install", "-y", "-q", "--download-only", "--no-install-recommends",
                              PROBE_PACKAGE], capture_output=True, text=True, timeout=120)
    try:
        yield PROBE_PACKAGE if fetched.returncode == 0 else None
    finally:
        subprocess.run(["apt-get", "purge", "-y", "-q", PROBE_PACKAGE], capture_output=True)
        for archive in set(Path("/var/cache/apt/archives").glob("*.deb")) - archives:
            archive.unlink()


def inv(lab, password, *args, reports, timeout=300):
    env = {**os.environ, "INVOKE_BENCH_REPORTS": str(reports), "INVOKE_LAB_KEY": str(lab.key),
           "INVOKE_LAB_KNOWN_HOSTS": str(lab.known_hosts), "BENCH_SUDO_PASSWORD": password}
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=PROJECT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def proc_sys(name, namespace=None):
    path = "/proc/sys/" + name.replace(".", "/")
    command = ["cat", path] if namespace is None else ["ip", "netns", "exec", namespace, "cat", path]
    return " ".join(subprocess.run(command, capture_output=True, text=True).stdout.split())


def files_under(*folders):
    return [path for folder in folders for path in Path(folder).rglob("*") if path.is_file()]


def test_setup_tune_and_a_bench_as_the_lab_user_through_sudo_leave_its_password_nowhere(
        user_lab, sudo_log, probe_package, tmp_path):
    lab, password, _, _ = user_lab
    name = lab.user.name
    server, load = lab.spec(lab.host("server")), lab.spec(lab.host("load"))
    outputs, reports = [], tmp_path / "reports"
    machine = {key: proc_sys(key) for key in NET_KEYS}

    # setup: nginx and wrk; with the probe package in wrk's list, apt really installs something through sudo.
    extra = tmp_path / "probe.yaml"
    packages = ["wrk"] + ([probe_package] if probe_package else [])
    extra.write_text(f"setup:\n  wrk: {{packages: {packages}, command: wrk, version_args: [-v]}}\n")
    done = inv(lab, password, "-f", str(extra), "setup", "--host", server, "--only", "nginx,wrk", reports=reports)
    outputs.append(done)
    assert done.returncode == 0, done.stdout + done.stderr
    logged = sudo_log.read_text() if sudo_log.exists() else ""
    if probe_package:
        flat = " ".join(logged.split())  # sudo wraps its log lines
        assert (f"{name} : PWD=/home/{name} ; USER=root ; COMMAND=/usr/bin/sh -c 'DEBIAN_FRONTEND=noninteractive "
                f"apt-get install -y -q --no-install-recommends {probe_package} 2>&1'") in flat, logged
        assert subprocess.run(["dpkg", "-s", probe_package], capture_output=True).returncode == 0

    # tune: apply, check and revert on the server host, files under a root folder the user can read (as /etc).
    root = Path(tempfile.mkdtemp(prefix="tune-root-"))
    root.chmod(0o755)
    try:
        for relative, text in (("etc/pam.d/common-session", COMMON_SESSION),
                               ("etc/pam.d/common-session-noninteractive", COMMON_SESSION),
                               ("etc/pam.d/sshd", "@include common-session\n"),
                               ("etc/security/limits.conf", "# limits.conf\n")):
            (root / relative).parent.mkdir(parents=True, exist_ok=True, mode=0o755)
            (root / relative).write_text(text)
        before = {key: proc_sys(key, lab.host("server").namespace) for key in NET_KEYS}
        done = inv(lab, password, "tune", "--host", server, "--root", str(root), reports=reports)
        outputs.append(done)
        assert done.returncode == 2 and "applied in part" in done.stdout, done.stdout + done.stderr
        assert proc_sys("net.core.somaxconn", lab.host("server").namespace) == "8192"
        assert "sysctl -w net.core.somaxconn=8192" in " ".join(sudo_log.read_text().split())
        snapshot = root / "var/lib/twisted-lab/tune-snapshot.json"
        assert snapshot.exists()
        tuned = files_under(root)
        texts = {path: path.read_bytes() for path in tuned}
        done = inv(lab, password, "tune", "--revert", "--host", server, "--root", str(root), reports=reports)
        outputs.append(done)
        assert done.returncode == 0 and "reverted" in done.stdout, done.stdout + done.stderr
        assert {key: proc_sys(key, lab.host("server").namespace) for key in NET_KEYS} == before
    finally:
        subprocess.run(["rm", "-rf", "--", str(root)])

    # bench: Nginx on the server host, wrk on the load host, both as the user.
    done = inv(lab, password, "bench", "--server-host", server, "--load-host", load, "--profile", "tiny",
               "--servers", "nginx", "--loadgen", "wrk", "--payloads", "40", "--keepalive", "--repeats", "2",
               "--name", "as-user", reports=reports)
    outputs.append(done)
    assert done.returncode == 0, done.stdout + done.stderr
    run = reports / "as-user"
    assert {"results.jsonl", "env.json", "report.md"} <= {p.name for p in run.iterdir()}
    assert list((run / "logs").iterdir())

    # The password: in no file the runs wrote, no output, and not in the machine's sysctls changed.
    written = [*files_under(reports, Path(pwd.getpwnam(name).pw_dir) / ".twisted-lab", lab.root), *texts]
    assert any(p.name == "manifest.json" for p in written) and any(p.name == "env.json" for p in written)
    leaks = [str(path) for path in written if password.encode() in (texts.get(path) or path.read_bytes())]
    leaks += [f"output of `inv {' '.join(o.args[3:5])}`" for o in outputs if password in o.stdout + o.stderr]
    assert leaks == []
    assert password not in logged + sudo_log.read_text()
    assert {key: proc_sys(key) for key in NET_KEYS} == machine
