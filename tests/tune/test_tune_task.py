"""`inv tune` itself, over SSH to the lab's hosts: apply, check, revert, several hosts,
and the options, profiles and host keys it refuses before touching a host."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from invoke import Config, Context, Exit
from tune_support import NET_KEYS, proc_sys, tree

from bench.errors import BenchError
from bench.tasks.tune import tune
from bench.tune.lock import host_lock

# Every test checks that the machine's own sysctls are as they were.
pytestmark = pytest.mark.usefixtures("machine_unchanged")

PROJECT = Path(__file__).resolve().parents[2]


def context(**tune_config):
    config = Config(project_location=str(PROJECT))
    config.load_project()
    config.tune.update(tune_config)
    return Context(config)


def call(c, capsys, **options):
    try:
        tune(c, **options)
        code = 0
    except Exit as exc:
        code = exc.code
        if exc.message:
            print(exc.message)
    return code, capsys.readouterr().out


def lab_context(server, **tune_config):
    c = context(**tune_config)
    c.config.lab.update({"key": str(server.key), "known_hosts": str(server.known_hosts)})
    return c


def test_apply_check_revert_on_a_lab_host_over_ssh(lab, root, capsys):
    server = lab.host("server")
    c = lab_context(server)
    spec, where = [server.spec], {"root": str(root)}
    values, files = {name: proc_sys(name, server.namespace) for name in NET_KEYS}, tree(root)

    code, out = call(c, capsys, check=True, host=spec, **where)
    assert code == 2 and "NOT TUNED" in out and f"inside network namespace {server.namespace}" in out
    assert "fs.file-nr" in out

    code, out = call(c, capsys, host=spec, **where)
    assert code == 2 and "applied in part" in out, out
    assert "fs.file-max: global: not set inside network namespace" in out
    assert [proc_sys(name, server.namespace) for name in NET_KEYS] == ["8192", "8192", "1024 65535"]

    code, out = call(c, capsys, check=True, host=spec, **where)
    rows = [line.split() for line in out.splitlines()]
    assert ["net.core.somaxconn", "8192", "8192", "tuned"] in rows

    code, out = call(c, capsys, host=spec, **where)
    assert code == 2 and "nothing to change" in out and "changed:" not in out

    code, out = call(c, capsys, revert=True, host=spec, **where)
    assert code == 0 and "reverted: 7 changed and verified" in out, out
    assert {name: proc_sys(name, server.namespace) for name in NET_KEYS} == values
    assert tree(root) == files


def test_the_task_over_ssh_on_two_hosts_prints_a_summary(lab, root, capsys):
    server, load = lab.host("server"), lab.host("load")
    code, out = call(context(), capsys, dry_run=True, host=[server.spec, load.spec], root=str(root),
                     key=str(server.key), known_hosts=str(server.known_hosts))
    body, summary = out.split("== summary\n")
    assert code == 2 and body.count("would change 7 settings") == 2
    assert summary.splitlines() == [f"{spec}: would change 7 settings, 4 cannot be set here (exit 2)"
                                    for spec in (server.spec, load.spec)]


@pytest.mark.parametrize("options, message", [
    ({"profile": "../../etc"}, "bad profile name"),
    ({"profile": "nosuch"}, "no profile 'nosuch'"),
    ({"check": True, "revert": True}, "each pick one action"),
])
def test_the_task_refuses_bad_options_before_touching_a_host(lab, root, capsys, options, message):
    server = lab.host("server")
    values, files = {name: proc_sys(name, server.namespace) for name in NET_KEYS}, tree(root)
    code, out = call(lab_context(server), capsys, host=[server.spec], root=str(root), **options)
    assert code == 1 and message in out
    assert {name: proc_sys(name, server.namespace) for name in NET_KEYS} == values and tree(root) == files


def test_the_task_validates_a_hostile_profile_over_ssh(lab, root, tmp_path, capsys):
    server = lab.host("server")
    sysconf = tmp_path / "sysconf"
    (sysconf / "hostile").mkdir(parents=True)
    (sysconf / "hostile" / "sysctl.conf").write_text("net.core.somaxconn = 8192\nkernel.core_pattern = |/tmp/x\n")
    code, out = call(lab_context(server, sysconf=str(sysconf)), capsys, profile="hostile", host=[server.spec], root=str(root))
    assert code == 1 and "'kernel.core_pattern' is not a key tune may set" in out
    assert proc_sys("kernel.core_pattern") != "|/tmp/x"


def test_an_unknown_lab_host_key_is_refused(lab, root, tmp_path, capsys):
    server = lab.host("server")
    c = lab_context(server)
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    c.config.lab.known_hosts = str(empty)
    code, out = call(c, capsys, check=True, host=[server.spec], root=str(root))
    assert code == 1 and "unknown host key" in out


def test_a_profile_with_a_limit_below_the_live_one_is_refused_by_a_dry_run(root, tmp_path, capsys):
    """`* hard nofile 1` would have passed: no limits file sets a nofile limit to compare with."""
    sysconf = tmp_path / "sysconf"
    (sysconf / "lockout").mkdir(parents=True)
    (sysconf / "lockout" / "limits.conf").write_text("* hard nofile 1\n")
    files = tree(root)
    code, out = call(context(sysconf=str(sysconf)), capsys, profile="lockout", dry_run=True, root=str(root))
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert code == 1 and len(errors) == 1, out
    assert errors[0].startswith("error: limits.conf: nofile hard 1 for other users is below the live limit ")
    assert tree(root) == files


@pytest.mark.parametrize("line, error", [
    ("net.ipv4.tcp_syncookies = 0", "error: sysconf/unsafe/sysctl.conf:1: net.ipv4.tcp_syncookies = 0 is refused: "
                                    "it turns SYN cookies off"),
    ("net.ipv4.tcp_window_scaling = 0", "error: sysconf/unsafe/sysctl.conf:1: net.ipv4.tcp_window_scaling = 0 is "
                                        "refused: it caps every TCP window at 64 KiB"),
    ("net.ipv4.tcp_max_orphans = 9000000000000000000", "error: sysconf/unsafe/sysctl.conf:1: "
                                                       "net.ipv4.tcp_max_orphans = 9000000000000000000 is above its ceiling"),
    ("net.core.rmem_default = 2147483648", "error: sysconf/unsafe/sysctl.conf:1: net.core.rmem_default = 2147483648 "
                                           "is above its ceiling 16777216"),
    ("net.ipv4.tcp_mem = 9000000000000000000 9000000000000000000 9000000000000000000",
     "error: sysconf/unsafe/sysctl.conf:1: net.ipv4.tcp_mem = 9000000000000000000 9000000000000000000 "
     "9000000000000000000 is above "),
])
def test_an_unsafe_profile_is_refused_in_one_line_by_a_dry_run(root, tmp_path, capsys, line, error):
    sysconf = tmp_path / "sysconf"
    (sysconf / "unsafe").mkdir(parents=True)
    (sysconf / "unsafe" / "sysctl.conf").write_text(line + "\n")
    files = tree(root)
    code, out = call(context(sysconf=str(sysconf)), capsys, profile="unsafe", dry_run=True, root=str(root))
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert code == 1 and len(errors) == 1 and errors[0].startswith(error), out
    assert tree(root) == files


def test_a_machine_built_from_a_container_image_is_tuned_whole_once_the_user_says_it_is_theirs(root, capsys):
    """This VM has /.dockerenv, though its /proc/sys is its own: the seed's fs.* keys wait for the user's word."""
    if not os.path.exists("/.dockerenv") or os.readlink("/proc/self/ns/pid") != "pid:[4026531836]":
        pytest.skip("needs /.dockerenv on a machine whose shell is in the first pid namespace, as this VM's")
    files = tree(root)
    code, out = call(context(), capsys, dry_run=True, root=str(root))
    assert code == 2, out
    assert ("cannot set: fs.file-max: global: not set inside a container (/.dockerenv says so, though this shell is "
            "in the machine's first pid and user namespaces), it would change the whole machine; if the machine is "
            "yours, pass --whole-machine (tune.whole_machine)") in out.splitlines()
    for theirs in ({"whole_machine": True}, {}):
        c = context(whole_machine=not theirs)
        code, out = call(c, capsys, dry_run=True, root=str(root), **theirs)
        assert "cannot set: fs." not in out and "inside a container" not in out, out
    assert tree(root) == files


def test_latin1_files_under_the_root_are_one_line_not_a_traceback(root, capsys):
    (root / "etc/security/limits.d").mkdir(parents=True, exist_ok=True)
    (root / "etc/security/limits.d/50-lab.conf").write_bytes(b"# r\xe9seau\n")
    code, out = call(context(), capsys, check=True, root=str(root))
    assert code == 2 and "NOT TUNED" in out, out
    (root / "etc/pam.d/common-session").write_bytes(b"# g\xe9r\xe9\n")
    files = tree(root)
    code, out = call(context(), capsys, dry_run=True, root=str(root))
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert code == 1 and errors == [f"error: {root}/etc/pam.d/common-session is not UTF-8 (byte 3); tune rewrites "
                                     f"only UTF-8 files: convert it (iconv -t UTF-8) or edit it by hand"], out
    assert tree(root) == files


HOLD_LOCK = """
import sys, time
from bench.hosts import connect
from bench.tune.lock import host_lock
spec, key, known_hosts, root = sys.argv[1:]
host = connect(spec, key_filename=key, known_hosts=known_hosts)
held = host_lock(host, root)  # kept, or its release would run when it is collected
held.__enter__()
print("held", flush=True)
time.sleep(60)
"""


def test_a_run_over_ssh_is_refused_while_another_holds_the_lock_and_a_killed_one_frees_it(lab, lab_connect, root,
                                                                                          capsys):
    server = lab.host("server")
    values, files = {name: proc_sys(name, server.namespace) for name in NET_KEYS}, tree(root)
    lock = root / "var/lib/twisted-lab/tune.lock"
    other = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, server.spec, str(server.key), str(server.known_hosts),
                              str(root)], cwd=PROJECT, stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline() == "held\n"
        code, out = call(lab_context(server), capsys, host=[server.spec], root=str(root))
        assert code == 1 and out.strip().splitlines() == [
            f"{server.spec}: error: {server.spec}: another `inv tune` is applying or reverting here (holder pid "
            f"{lock.read_text().strip()} has {lock}); wait for it to end, then run again"], out
        code, out = call(lab_context(server), capsys, revert=True, host=[server.spec], root=str(root))
        assert code == 1 and "another `inv tune`" in out
        assert {name: proc_sys(name, server.namespace) for name in NET_KEYS} == values
    finally:
        other.kill()  # the run holding the lock dies without releasing it
        other.wait()
    host, deadline = lab_connect("server"), time.monotonic() + 10
    while True:
        try:
            with host_lock(host, str(root)):
                break
        except BenchError:
            assert time.monotonic() < deadline, "the lock outlived the run and connection that took it"
            time.sleep(0.2)
    assert tree(root) == files
