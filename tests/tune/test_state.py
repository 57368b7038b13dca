"""The probe's tagged lines as a host state: values, files and their problems, who and where."""
import pytest

from bench.tune.state import SYSCTL_DROPIN, File, Sysctl, parse_probe

# Every test checks that the machine's own sysctls are as they were.
pytestmark = pytest.mark.usefixtures("machine_unchanged")

PROBE = """R\t/t/root
N\t{netns}
P\tnet:[1]\t{pid1}
C\t
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


def test_the_probe_reads_this_machines_memory_and_page_size():
    from bench.hosts import LocalHost
    from bench.tune.state import read_state

    found = read_state(LocalHost(), "/nonexistent-root")
    meminfo = dict(line.split(":", 1) for line in open("/proc/meminfo"))
    assert found.memory_kb == int(meminfo["MemTotal"].split()[0])
    assert found.page_size == __import__("os").sysconf("SC_PAGE_SIZE")
