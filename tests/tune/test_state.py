"""The probe's tagged lines as a host state: values, files and their problems, who and where."""
import base64
import json
import os

import pytest
from tune_support import UnsharedHost, needs_unshare

from bench.hosts import LocalHost
from bench.tune.state import SNAPSHOT, SYSCTL_DROPIN, File, Sysctl, parse_probe, read_state

# Every test checks that the machine's own sysctls are as they were.
pytestmark = pytest.mark.usefixtures("machine_unchanged")

PROBE = """R\t/t/root
N\t{netns}
P\tnet:[1]\t{pid1}
C\t{marker}
Q\t{user}\t{pid}\t{uid_map}
M\t{mount}
U\talice\t1000\talice bench
L\t1024\tunlimited
K\t2048000\t65536
S\tnet.core.somaxconn\t644\t4096
S\tnet.ipv4.ip_local_port_range\t644\t32768 60999\x20
S\tnet.core.rmem_max\t444\t212992
S\tnet.core.netdev_max_backlog\t{backlog}\t1000
F\tetc/pam.d/common-session\tfile\t/t/root/etc/pam.d/common-session\tc2Vzc2lvbgo=
F\tetc/pam.d/sshd\tsymlink\t/etc/pam.d/sshd\t
F\tetc/security/limits.conf\tfile\t/elsewhere/limits.conf\tIwo=
F\tetc/sysctl.d/99-twisted-lab.conf\tabsent\t/t/root/etc/sysctl.d/99-twisted-lab.conf\t
"""


FIRST = {"user": "user:[4026531837]", "pid": "pid:[4026531836]", "uid_map": "0 0 4294967295 "}


def probe(netns="", pid1="", mount="", backlog="644", marker="", whole_machine=False, snapshot=None, **namespaces):
    output = PROBE.format(netns=netns, pid1=pid1, mount=mount, backlog=backlog, marker=marker, **{**FIRST, **namespaces})
    if snapshot is not None:
        output += f"F\t{SNAPSHOT}\tfile\t/t/root/{SNAPSHOT}\t{base64.b64encode(json.dumps(snapshot).encode()).decode()}\n"
    return parse_probe(output, whole_machine)


def test_the_probe_output_becomes_a_host_state():
    found = probe()
    assert found.value("net.ipv4.ip_local_port_range") == "32768 60999"
    assert found.sysctls["net.core.rmem_max"] == Sysctl("212992", False)
    assert found.text("etc/pam.d/common-session") == "session\n"
    assert "symlink" in found.files["etc/pam.d/sshd"].problem
    assert "resolves to /elsewhere/limits.conf" in found.files["etc/security/limits.conf"].problem
    assert found.files[SYSCTL_DROPIN] == File(None)
    assert (found.user, found.uid, found.groups, found.nofile_now) == ("alice", 1000, ("alice", "bench"), (1024, 2**63))
    assert (found.memory_kb, found.page_size) == (2048000, 65536)
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


MARKER_ONLY = "a container (/.dockerenv says so, though this shell is in the machine's first pid and user namespaces)"


@pytest.mark.parametrize("facts, confined, guessed", [
    ({"marker": "/.dockerenv"}, MARKER_ONLY, True),
    ({"marker": "/run/.containerenv", "user": "", "pid": ""}, "a container (/run/.containerenv says so)", True),
    ({"pid": "pid:[4026532312]"}, "a container (a pid namespace of its own)", True),
    ({"marker": "/.dockerenv", "user": "user:[4026532311]", "uid_map": "0 100000 65536 "}, "a user namespace", False),
    ({"uid_map": "0 0 1 "}, "a user namespace", False),
    ({"marker": "/.dockerenv", "netns": "lab-1"}, "network namespace lab-1", False),
    ({"marker": "/.dockerenv", "backlog": "-"}, "a network namespace", False),
])
def test_evidence_of_namespaces_comes_before_signs_of_a_container(facts, confined, guessed):
    found = probe(**facts)
    assert (found.confined, found.guessed) == (confined, guessed)
    theirs = probe(**facts, whole_machine=True)  # the user says the machine is theirs: signs yield, evidence stays
    assert (theirs.confined, theirs.guessed) == ((None, False) if guessed else (confined, False))


def test_an_apply_told_the_machine_is_the_users_is_remembered_until_revert():
    snapshot = {"version": 1, "sysctl": {"fs.file-max": "2471007"}, "files": {}, "whole_machine": True}
    assert probe(marker="/.dockerenv", snapshot=snapshot).confined is None
    assert probe(marker="/.dockerenv", snapshot={**snapshot, "whole_machine": False}).confined == MARKER_ONLY
    assert probe(netns="lab-1", snapshot=snapshot).confined == "network namespace lab-1"


@pytest.mark.parametrize("flags, confined, guessed", [
    (("--pid", "--fork", "--mount-proc"), "a container (a pid namespace of its own)", True),
    (("--user", "--map-root-user"), "a user namespace", False),
])
def test_the_probe_finds_the_namespaces_it_runs_in(flags, confined, guessed):
    needs_unshare()
    found = read_state(UnsharedHost(*flags), "/nonexistent-root")
    assert (found.confined, found.guessed) == (confined, guessed)
    assert read_state(UnsharedHost(*flags), "/nonexistent-root", whole_machine=True).confined == (
        None if guessed else confined)


def test_the_probe_reads_this_machines_memory_and_page_size():
    found = read_state(LocalHost(), "/nonexistent-root")
    meminfo = dict(line.split(":", 1) for line in open("/proc/meminfo"))
    assert found.memory_kb == int(meminfo["MemTotal"].split()[0])
    assert found.page_size == os.sysconf("SC_PAGE_SIZE")


def test_a_latin1_file_is_read_for_its_limits_and_never_rewritten(root):
    """A limits.d file with a Latin-1 comment is a host's own: its nofile lines count. A PAM file tune
    would rewrite must round-trip, so one that is not UTF-8 is a problem named in one line."""
    (root / "etc/security/limits.d").mkdir(parents=True, exist_ok=True)
    (root / "etc/security/limits.d/50-lab.conf").write_bytes(
        b"# r\xe9seau du labo\n*  hard  nofile  65536\n")
    (root / "etc/pam.d/common-session").write_bytes(b"# g\xe9r\xe9 \xe0 la main\nsession required pam_unix.so\n")
    found = read_state(LocalHost(), str(root))
    assert "*  hard  nofile  65536" in found.limits_files()[1]
    assert found.files["etc/pam.d/common-session"] == File(None, (
        f"{root}/etc/pam.d/common-session is not UTF-8 (byte 3); tune rewrites only UTF-8 files: convert it "
        f"(iconv -t UTF-8) or edit it by hand"))
