"""Tuning: planning on hand-made host states, and real round trips.

The round trips set real net.* sysctls inside a network namespace the test creates
(or a lab host's, over SSH), and write files only under a test root folder. Global
keys (fs.*) are never written: every test checks the machine's own values afterwards.
"""
import json
import os
import secrets
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from invoke import Config, Context, Exit

from bench.errors import BenchError
from bench.hosts import LocalHost
from bench.tasks.tune import tune
from bench.tune import tuning
from bench.tune.profile import (
    KEYS,
    Profile,
    load_profile,
    parse_limits_conf,
    parse_sysctl_conf,
)
from bench.tune.tuning import (
    LIMITS_DROPIN,
    SNAPSHOT,
    SYSCTL_DROPIN,
    File,
    HostState,
    NofileLimit,
    PamLimitsLine,
    RestoreFile,
    Sysctl,
    SysctlDropIn,
    SysctlKey,
    exit_code,
    operations,
    parse_probe,
)

PROJECT = Path(__file__).resolve().parents[2]
NET_KEYS = ("net.core.somaxconn", "net.ipv4.tcp_max_syn_backlog", "net.ipv4.ip_local_port_range")
# What the seed profile cannot set in a network namespace, and why.
SEED_IN_NAMESPACE = {
    "fs.file-max": "global", "fs.pipe-max-size": "global",
    "net.core.netdev_max_backlog": "absent", "net.ipv4.tcp_max_orphans": "absent",
}
COMMON_SESSION = """\
# here are the per-package modules (the "Primary" block)
session\t[default=1]\t\t\tpam_permit.so
session\trequisite\t\t\tpam_deny.so
session\trequired\t\t\tpam_permit.so
session\trequired\tpam_unix.so
# end of pam-auth-update config
"""
SSHD_PAM = "@include common-session\n"
LIMITS_CONF = "# /etc/security/limits.conf\n#<domain>      <type>  <item>         <value>\n#*               soft    core            0\n"


# -- fixtures --------------------------------------------------------------------------

def needs_netns():
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.skip("needs root and iproute2 (ip netns)")


class NamespaceHost(LocalHost):
    """This machine, with every command run inside a network namespace."""

    def __init__(self, namespace: str):
        super().__init__()
        self.namespace = namespace
        self.name = f"netns {namespace}"

    def run(self, command, **kw):
        return super().run(f"ip netns exec {shlex.quote(self.namespace)} sh -c {shlex.quote(command)}", **kw)


@pytest.fixture
def netns():
    needs_netns()
    name = f"tune-{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    yield name
    subprocess.run(["ip", "netns", "del", name], check=True)


@pytest.fixture
def root(tmp_path):
    """A test root folder with Debian-like PAM files and limits.conf."""
    folder = tmp_path / "root"
    for relative, text in (("etc/pam.d/common-session", COMMON_SESSION),
                           ("etc/pam.d/common-session-noninteractive", COMMON_SESSION),
                           ("etc/pam.d/sshd", SSHD_PAM), ("etc/security/limits.conf", LIMITS_CONF)):
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_text(text)
    return folder


@pytest.fixture(autouse=True)
def machine_unchanged():
    """Every global key, and the root namespace's net.* keys, are the same after each test."""
    before = machine_values()
    yield
    assert machine_values() == before


def machine_values():
    return {name: proc_sys(name) for name in KEYS}


def proc_sys(name, namespace=None):
    path = "/proc/sys/" + name.replace(".", "/")
    command = ["cat", path] if namespace is None else ["ip", "netns", "exec", namespace, "cat", path]
    result = subprocess.run(command, capture_output=True, text=True)
    return " ".join(result.stdout.split()) if result.returncode == 0 else None


def tree(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def write_profile(sysconf, name, files):
    for relative, text in files.items():
        (sysconf / name / relative).parent.mkdir(parents=True, exist_ok=True)
        (sysconf / name / relative).write_text(text)
    return load_profile(name, sysconf)


# -- planning on hand-made states (pure) ---------------------------------------------------

def state(values=None, files=None, confined=None, writable=True, user="root", uid=0):
    sysctls = {name: Sysctl(value, writable) for name, value in {
        "net.core.somaxconn": "4096", "net.ipv4.ip_local_port_range": "32768 60999",
        "net.core.netdev_max_backlog": "1000", "fs.file-max": "2466170", "fs.nr_open": "1048576",
        **(values or {})}.items()}
    return HostState(root="/r", sysctls=sysctls, files={k: File(v) for k, v in (files or {}).items()},
                     confined=confined, user=user, uid=uid, groups=(), nofile_now=(1024, 4096))


def key_op(name, value):
    return SysctlKey(KEYS[name], value, "p/sysctl.conf:1")


def profile_from_text(sysctl_conf="", limits_conf=""):
    return Profile("t", parse_sysctl_conf(sysctl_conf, "t/sysctl.conf"), parse_limits_conf(limits_conf, "t/limits.conf"))


@pytest.mark.parametrize("name, host, reason", [
    ("net.core.somaxconn", state(), None),
    ("fs.file-max", state(), None),
    ("fs.file-max", state(confined="network namespace lab"), "global: not set inside network namespace lab"),
    ("net.core.somaxconn", state(confined="network namespace lab"), None),
    ("net.core.somaxconn", state(writable=False), "read-only here"),
    ("net.ipv4.tcp_max_orphans", state(), "absent in this kernel"),
    ("net.ipv4.tcp_max_orphans", state(confined="a container"), "absent in a container"),
    ("net.core.somaxconn", state({"net.core.somaxconn": None}), "absent in this kernel"),
])
def test_why_a_key_cannot_be_set_here(name, host, reason):
    found = key_op(name, "99999999").skip(host)
    assert found == reason or (reason and found.startswith(reason))


def test_lowering_a_raise_only_key_is_a_validation_error_naming_the_line():
    problems = key_op("net.core.somaxconn", "128").problems(state())
    assert len(problems) == 1 and "p/sysctl.conf:1" in problems[0] and "lower this host's 4096" in problems[0]
    assert key_op("net.core.somaxconn", "8192").problems(state()) == []
    assert "narrow" in key_op("net.ipv4.ip_local_port_range", "40000 50000").problems(state())[0]
    assert SysctlKey(KEYS["net.core.somaxconn"], "128", "snapshot", restoring=True).problems(state()) == []


def test_the_sysctl_drop_in_holds_only_the_keys_set_here():
    profile = profile_from_text("net.core.somaxconn = 8192\nfs.file-max = 16777216\nnet.ipv4.tcp_max_orphans = 9\n")
    keys = [op for op in operations(profile) if isinstance(op, SysctlKey)]
    dropin = SysctlDropIn(profile, keys)
    assert dropin.wanted(state()).splitlines()[1:] == ["net.core.somaxconn = 8192", "fs.file-max = 16777216"]
    assert dropin.wanted(state(confined="network namespace x")).splitlines()[1:] == ["net.core.somaxconn = 8192"]
    keys[0].failed = "Invalid argument"
    assert dropin.wanted(state(confined="network namespace x")) is None


@pytest.mark.parametrize("limits, existing, message", [
    ("* - nofile 2000000", "", "above fs.nr_open 1048576"),
    ("root - nofile 1048576", "root hard nofile 2097152\n", "nofile hard 1048576 for root would lower the 2097152"),
    ("* - nofile 4096", "* soft nofile 8192\n", "nofile soft 4096 for other users would lower the 8192"),
    ("* - nofile 1048576", "* - nofile 1024\n", None),
    ("* - nofile 1048576", "root - nofile 4000000\n", None),
])
def test_nofile_limits_are_validated_against_the_host(limits, existing, message):
    profile = profile_from_text(limits_conf=limits)
    problems = NofileLimit(profile).problems(state(files={"etc/security/limits.conf": existing}))
    if message is None:
        assert problems == []
    else:
        assert len(problems) == 1 and message in problems[0]


def test_a_profile_may_raise_nr_open_for_its_own_nofile_limit():
    profile = profile_from_text("fs.nr_open = 4194304\n", "* - nofile 2000000")
    assert NofileLimit(profile).problems(state()) == []
    assert "above fs.nr_open" in NofileLimit(profile).problems(state(confined="network namespace x"))[0]


@pytest.mark.parametrize("text, wanted", [
    ("session required pam_unix.so\n", "session required pam_unix.so\nsession required pam_limits.so\n"),
    ("session required pam_unix.so", "session required pam_unix.so\nsession required pam_limits.so\n"),
    ("session optional pam_limits.so\n", "session optional pam_limits.so\n"),
    ("", "session required pam_limits.so\n"),
])
def test_the_pam_line_is_appended_only_where_missing(text, wanted):
    op = PamLimitsLine("common-session", "session required pam_limits.so")
    host = state(files={"etc/pam.d/common-session": text})
    assert op.wanted(host) == wanted
    assert op.changes(host) is (text != wanted)


def test_a_missing_pam_file_is_reported_not_created():
    op = PamLimitsLine("common-session", "session required pam_limits.so")
    assert "add `session required pam_limits.so`" in op.skip(state())
    assert not op.changes(state())


def test_the_snapshot_keeps_the_first_value_and_the_latest_file():
    snapshot = {"version": 1, "sysctl": {"net.core.somaxconn": "128"}, "files": {}}
    key_op("net.core.somaxconn", "8192").save(state(), snapshot)
    key_op("net.ipv4.ip_local_port_range", "1024 65535").save(state(), snapshot)
    assert snapshot["sysctl"] == {"net.core.somaxconn": "128", "net.ipv4.ip_local_port_range": "32768 60999"}
    pam = PamLimitsLine("common-session", "session required pam_limits.so")
    pam.save(state(files={"etc/pam.d/common-session": "x\n"}), snapshot)
    pam.save(state(files={"etc/pam.d/common-session": "y\n"}), snapshot)
    assert snapshot["files"]["etc/pam.d/common-session"] == {
        "before": "x\n", "after": "y\nsession required pam_limits.so\n"}


def test_revert_leaves_a_file_alone_when_someone_changed_it_since():
    op = RestoreFile("etc/pam.d/common-session", "old\n", "old\nours\n")
    assert op.skip(state(files={"etc/pam.d/common-session": "old\nours\n"})) is None
    assert op.changes(state(files={"etc/pam.d/common-session": "old\nours\n"}))
    assert not op.changes(state(files={"etc/pam.d/common-session": "old\n"}))
    assert "changed since" in op.skip(state(files={"etc/pam.d/common-session": "theirs\n"}))


PROBE = """R\t/t/root
N\t{netns}
P\tnet:[1]\t{pid1}
C\t
M\t{mount}
U\talice\t1000\talice bench
L\t1024\tunlimited
S\tnet.core.somaxconn\t644\t4096
S\tnet.ipv4.ip_local_port_range\t644\t32768 60999\x20
S\tnet.core.rmem_max\t444\t212992
S\tnet.core.netdev_max_backlog\t{backlog}\t1000
F\tetc/pam.d/common-session\tfile\t/t/root/etc/pam.d/common-session\tc2Vzc2lvbgo=
F\tetc/pam.d/sshd\tsymlink\t/etc/pam.d/sshd\t
F\tetc/security/limits.conf\tfile\t/elsewhere/limits.conf\tIwo=
F\tetc/sysctl.d/99-twisted-lab.conf\tabsent\t/t/root/etc/sysctl.d/99-twisted-lab.conf\t
"""


def probe(netns="", pid1="", mount="", backlog="644"):
    return parse_probe(PROBE.format(netns=netns, pid1=pid1, mount=mount, backlog=backlog))


def test_the_probe_output_becomes_a_host_state():
    found = probe()
    assert found.value("net.ipv4.ip_local_port_range") == "32768 60999"
    assert found.sysctls["net.core.rmem_max"] == Sysctl("212992", False)
    assert found.text("etc/pam.d/common-session") == "session\n"
    assert "symlink" in found.files["etc/pam.d/sshd"].problem
    assert "resolves to /elsewhere/limits.conf" in found.files["etc/security/limits.conf"].problem
    assert found.files[SYSCTL_DROPIN] == File(None)
    assert (found.user, found.uid, found.groups, found.nofile_now) == ("alice", 1000, ("alice", "bench"), (1024, 2**63))
    assert all(not s.writable for s in probe(mount="ro,nosuid,nodev").sysctls.values())


@pytest.mark.parametrize("facts, confined", [
    ({}, None),
    ({"netns": "lab-1"}, "network namespace lab-1"),
    ({"pid1": "net:[2]"}, "a network namespace"),
    ({"pid1": "net:[1]"}, None),
    ({"backlog": "-"}, "a network namespace"),
])
def test_where_the_host_runs(facts, confined):
    assert probe(**facts).confined == confined


def test_several_hosts_give_one_exit_code():
    assert exit_code([0, 0]) == 0
    assert exit_code([0, 2]) == 2
    assert exit_code([2, 1, 0]) == 1


# -- real round trips in a network namespace ----------------------------------------------------

def test_seed_round_trip_in_a_network_namespace(netns, root):
    host, profile = NamespaceHost(netns), load_profile("seed")
    values = {name: proc_sys(name, netns) for name in NET_KEYS}
    files = tree(root)

    found = tuning.check(host, profile, str(root))
    assert found.code == tuning.EXIT_PARTIAL and "NOT TUNED" in found.summary
    assert "network namespace " + netns in found.where

    planned = tuning.plan(host, profile, str(root))
    assert planned.code == tuning.EXIT_PARTIAL and tree(root) == files
    assert any(d.startswith("--- /dev/null\n+++ b/" + SYSCTL_DROPIN) for d in planned.diffs)
    assert {row.setting: row.state for row in planned.rows}["net.core.somaxconn"] == "change"

    applied = tuning.apply(host, profile, str(root))
    assert applied.code == tuning.EXIT_PARTIAL, tuning.format_outcome(applied)
    assert not applied.errors
    assert {line.split(":")[0]: line for line in applied.skipped}.keys() == SEED_IN_NAMESPACE.keys()
    for line in applied.skipped:
        assert SEED_IN_NAMESPACE[line.split(":")[0]] in line
    assert [proc_sys(name, netns) for name in NET_KEYS] == ["8192", "8192", "1024 65535"]
    assert (root / SYSCTL_DROPIN).read_text().splitlines()[1:] == [
        "net.core.somaxconn = 8192", "net.ipv4.tcp_max_syn_backlog = 8192", "net.ipv4.ip_local_port_range = 1024 65535"]
    assert "root            hard     nofile          1048576" in (root / LIMITS_DROPIN).read_text()
    assert (root / "etc/pam.d/common-session").read_text() == COMMON_SESSION + "session required pam_limits.so\n"
    snapshot = (root / SNAPSHOT).read_bytes()
    assert json.loads(snapshot)["sysctl"] == values

    again = tuning.apply(host, profile, str(root))
    assert not again.changed and "nothing to change" in again.summary
    assert (root / SNAPSHOT).read_bytes() == snapshot

    rows = {row.setting: row for row in tuning.check(host, profile, str(root)).rows}
    assert all(rows[name].tuned for name in NET_KEYS)
    assert rows["nofile, new login as root"].current == "1048576 1048576" and rows["nofile, new login as root"].tuned
    assert rows["fs.file-nr"].tuned is None and rows["fs.file-max"].tuned is False

    reverted = tuning.revert(host, str(root))
    assert reverted.code == tuning.EXIT_TUNED, tuning.format_outcome(reverted)
    assert {name: proc_sys(name, netns) for name in NET_KEYS} == values
    assert tree(root) == files
    assert "nothing to revert" in tuning.revert(host, str(root)).summary


def test_a_namespace_only_profile_tunes_fully(netns, root, tmp_path):
    profile = write_profile(tmp_path / "sysconf", "net", {
        "sysctl.conf": "net.core.somaxconn = 16384\nnet.ipv4.tcp_tw_reuse = 1\nnet.ipv4.tcp_fin_timeout = 15\n"})
    host = NamespaceHost(netns)
    before = {name: proc_sys(name, netns) for name in ("net.core.somaxconn", "net.ipv4.tcp_fin_timeout")}
    assert tuning.apply(host, profile, str(root)).code == tuning.EXIT_TUNED
    assert tuning.check(host, profile, str(root)).code == tuning.EXIT_TUNED
    state = tuning.tuning_state(host, profile, str(root))
    assert state["net.core.somaxconn"] == {"current": "16384", "profile": "16384", "tuned": True, "state": "tuned"}
    assert state["net.ipv4.tcp_fin_timeout"]["tuned"] and state["fs.file-nr"]["tuned"] is None
    assert tuning.revert(host, str(root)).code == tuning.EXIT_TUNED
    assert {name: proc_sys(name, netns) for name in before} == before


def test_keys_that_cannot_be_set_are_reported_and_the_rest_applied(netns, root, tmp_path):
    profile = write_profile(tmp_path / "sysconf", "mixed", {"sysctl.conf": (
        "net.core.rmem_max = 8388608\n"                       # read-only in a namespace
        "net.ipv4.tcp_congestion_control = nosuchalgorithm\n"  # the kernel refuses it
        "net.core.somaxconn = 8192\n")})
    host = NamespaceHost(netns)
    outcome = tuning.apply(host, profile, str(root))
    assert outcome.code == tuning.EXIT_PARTIAL
    reasons = dict(line.split(": ", 1) for line in outcome.skipped)
    assert reasons["net.core.rmem_max"] == "read-only here"
    assert reasons["net.ipv4.tcp_congestion_control"].startswith("failed: ")
    assert proc_sys("net.core.somaxconn", netns) == "8192"
    assert (root / SYSCTL_DROPIN).read_text().splitlines()[1:] == ["net.core.somaxconn = 8192"]
    assert tuning.revert(host, str(root)).code == tuning.EXIT_TUNED
    assert not (root / SYSCTL_DROPIN).exists()


@pytest.mark.parametrize("files, message", [
    ({"sysctl.conf": "net.core.somaxconn = 128\nnet.ipv4.tcp_max_syn_backlog = 8192\n"}, "would lower"),
    ({"sysctl.conf": "net.ipv4.ip_local_port_range = 40000 50000\n"}, "would narrow"),
    ({"sysctl.conf": "net.core.somaxconn = 8192\n", "limits.conf": "* - nofile 99999999\n"}, "above fs.nr_open"),
])
def test_a_profile_that_does_not_fit_the_host_changes_nothing(netns, root, tmp_path, files, message):
    profile = write_profile(tmp_path / "sysconf", "bad", files)
    host = NamespaceHost(netns)
    values, before = {name: proc_sys(name, netns) for name in NET_KEYS}, tree(root)
    outcome = tuning.apply(host, profile, str(root))
    assert outcome.code == tuning.EXIT_ERROR and message in " ".join(outcome.errors)
    assert {name: proc_sys(name, netns) for name in NET_KEYS} == values
    assert tree(root) == before


def test_a_symlink_under_root_is_refused_and_nothing_changes(netns, root, tmp_path):
    outside = tmp_path / "outside-common-session"
    outside.write_text(COMMON_SESSION)
    (root / "etc/pam.d/common-session").unlink()
    os.symlink(outside, root / "etc/pam.d/common-session")
    host, values = NamespaceHost(netns), proc_sys("net.core.somaxconn", netns)
    outcome = tuning.apply(host, load_profile("seed"), str(root))
    assert outcome.code == tuning.EXIT_ERROR and "symlink" in outcome.errors[0]
    assert outside.read_text() == COMMON_SESSION and not (root / SNAPSHOT).exists()
    assert proc_sys("net.core.somaxconn", netns) == values


class CrashingHost(NamespaceHost):
    """Dies (as on Ctrl-C or a lost connection) on its second sysctl write."""

    writes = 0

    def sudo(self, command, **kw):
        if "sysctl -w" in command:
            self.writes += 1
            if self.writes == 2:
                raise KeyboardInterrupt
        return super().sudo(command, **kw)


def test_revert_after_a_crash_in_the_middle_of_apply(netns, root):
    values, files = {name: proc_sys(name, netns) for name in NET_KEYS}, tree(root)
    with pytest.raises(KeyboardInterrupt):
        tuning.apply(CrashingHost(netns), load_profile("seed"), str(root))
    assert (root / SNAPSHOT).exists() and proc_sys("net.core.somaxconn", netns) == "8192"
    outcome = tuning.revert(NamespaceHost(netns), str(root))
    assert outcome.code == tuning.EXIT_TUNED, tuning.format_outcome(outcome)
    assert {name: proc_sys(name, netns) for name in NET_KEYS} == values and tree(root) == files


def test_the_drop_in_brings_values_back_after_a_reboot_and_revert_still_works(netns, root):
    host, profile = NamespaceHost(netns), load_profile("seed")
    values, files = {name: proc_sys(name, netns) for name in NET_KEYS}, tree(root)
    tuning.apply(host, profile, str(root))
    # A reboot, as far as the namespace goes: a fresh one, then what systemd-sysctl does.
    subprocess.run(["ip", "netns", "del", netns], check=True)
    subprocess.run(["ip", "netns", "add", netns], check=True)
    assert {name: proc_sys(name, netns) for name in NET_KEYS} == values
    subprocess.run(["ip", "netns", "exec", netns, "sysctl", "-q", "-p", str(root / SYSCTL_DROPIN)], check=True)
    assert tuning.check(host, profile, str(root)).rows[3].tuned
    assert tuning.revert(host, str(root)).code == tuning.EXIT_TUNED
    assert {name: proc_sys(name, netns) for name in NET_KEYS} == values and tree(root) == files


# -- the task, over SSH to a lab host ------------------------------------------------------------------

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


@pytest.mark.parametrize("text", [
    "{not json",
    json.dumps({"version": 2, "sysctl": {}, "files": {}}),
    json.dumps({"version": 1, "sysctl": {"kernel.core_pattern": "|/tmp/x"}, "files": {}}),
    json.dumps({"version": 1, "sysctl": {"net.core.somaxconn": "1; reboot"}, "files": {}}),
    json.dumps({"version": 1, "sysctl": {}, "files": {"etc/security/limits.d/../../../x": {"before": "x"}}}),
    json.dumps({"version": 1, "sysctl": {}, "files": {"etc/shadow": {"before": "x"}}}),
])
def test_a_broken_or_hostile_snapshot_is_an_error_not_a_guess(netns, root, text):
    (root / SNAPSHOT).parent.mkdir(parents=True)
    (root / SNAPSHOT).write_text(text)
    with pytest.raises(BenchError, match="not a tune snapshot"):
        tuning.revert(NamespaceHost(netns), str(root))
