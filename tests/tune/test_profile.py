"""Profiles as data: parsing, the allow-list, and what pam_limits gives a login."""
import os

import pytest

from bench.errors import BenchError
from bench.tune.profile import (
    LimitLine,
    has_pam_limits,
    load_profile,
    parse_limits_conf,
    parse_pam_lines,
    parse_sysctl_conf,
    session_nofile,
)


def write_profile(folder, files):
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


# -- the seed's profile ------------------------------------------------------------

def test_seed_profile_holds_the_seeds_values():
    profile = load_profile("seed")
    values = {s.key.name: s.value for s in profile.sysctls}
    assert values == {
        "net.core.somaxconn": "8192", "net.ipv4.tcp_max_orphans": "8192",
        "net.ipv4.tcp_max_syn_backlog": "8192", "net.core.netdev_max_backlog": "262144",
        "net.ipv4.ip_local_port_range": "1024 65535",
        "fs.file-max": "16777216", "fs.pipe-max-size": "134217728",
    }
    assert {(l.domain, l.type, l.item, l.value) for l in profile.limits} == {
        (d, t, "nofile", 1048576) for d in ("*", "root") for t in ("soft", "hard")}
    assert {(p.service, p.text) for p in profile.pam} == {
        ("common-session", "session required pam_limits.so"),
        ("common-session-noninteractive", "session required pam_limits.so")}


# -- sysctl.conf --------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("net.core.somaxconn = 8192", {"net.core.somaxconn": "8192"}),
    ("net.core.somaxconn=8192\n", {"net.core.somaxconn": "8192"}),
    ("  # comment\n; also a comment\n\nnet.ipv4.ip_local_port_range =\t1024\t 65535  ",
     {"net.ipv4.ip_local_port_range": "1024 65535"}),
    ("net.ipv4.tcp_rmem = 4096 131072 33554432", {"net.ipv4.tcp_rmem": "4096 131072 33554432"}),
    ("net.ipv4.tcp_congestion_control = cubic", {"net.ipv4.tcp_congestion_control": "cubic"}),
    ("net.core.somaxconn = 08192", {"net.core.somaxconn": "8192"}),
])
def test_sysctl_conf_is_read_as_the_kernel_prints_it(text, expected):
    assert {s.key.name: s.value for s in parse_sysctl_conf(text, "p")} == expected


@pytest.mark.parametrize("text, message", [
    ("net.core.somaxconn 8192", "expected `key = value`"),
    ("net.core.somaxconn =", "expected `key = value`"),
    ("kernel.core_pattern = |/tmp/x", "not a key tune may set"),
    ("fs.file-nr = 1", "not a key tune may set"),
    ("net/core/somaxconn = 1", "not a key tune may set"),
    ("net.core.somaxconn = lots", "takes a number"),
    ("net.core.somaxconn = 8192; rm -rf /", "takes a number"),
    ("net.core.somaxconn = -1", "takes a number"),
    ("net.core.somaxconn = 99999999999999999999", "takes a number"),
    ("net.ipv4.ip_local_port_range = 1024", "takes 2 numbers"),
    ("net.ipv4.ip_local_port_range = 65535 1024", "swap the numbers"),
    ("net.ipv4.tcp_congestion_control = $(reboot)", "takes one word"),
    ("-net.core.somaxconn = 1", "prefix"),
    ("net.core.somaxconn = 1\nnet.core.somaxconn = 2", "set twice"),
])
def test_malformed_sysctl_lines_are_rejected_with_their_line(text, message):
    with pytest.raises(BenchError, match=message) as error:
        parse_sysctl_conf(text, "sysconf/x/sysctl.conf")
    assert "sysconf/x/sysctl.conf:" in str(error.value)


@pytest.mark.parametrize("line, message", [
    ("net.ipv4.tcp_syncookies = 3", "outside 0-2"),
    ("net.ipv4.tcp_fin_timeout = 0", "outside 1-120 s"),
    ("net.ipv4.tcp_fin_timeout = 86400", "outside 1-120 s"),
    ("net.ipv4.ip_local_port_range = 80 65535", "outside 1024-65535"),
    ("net.ipv4.ip_local_port_range = 1024 70000", "outside 1024-65535"),
    ("net.ipv4.ip_local_port_range = 5000 5000", "low port must be below the high one"),
    ("net.ipv4.tcp_tw_reuse = 7", "outside 0-2"),
    ("net.ipv4.tcp_window_scaling = 2", "outside 0-1"),
    ("net.ipv4.tcp_low_latency = 9", "outside 0-1"),
])
def test_keys_with_no_direction_stay_in_their_range(line, message):
    with pytest.raises(BenchError, match=message) as error:
        parse_sysctl_conf(line, "sysconf/x/sysctl.conf")
    assert str(error.value).startswith("sysconf/x/sysctl.conf:1: ")


@pytest.mark.parametrize("line", [
    "net.ipv4.tcp_syncookies = 1", "net.ipv4.tcp_syncookies = 2", "net.ipv4.tcp_fin_timeout = 1",
    "net.ipv4.tcp_fin_timeout = 120", "net.ipv4.ip_local_port_range = 1024 65535",
    "net.ipv4.ip_local_port_range = 1024 1025", "net.ipv4.tcp_fastopen = 1027",
])
def test_values_at_the_edges_of_a_range_are_taken(line):
    assert len(parse_sysctl_conf(line, "p")) == 1


# -- limits.conf and PAM lines ------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("* soft nofile", "expected `<domain> <type> <item> <value>`"),
    ("* soft core 0", "only nofile"),
    ("* soft nofile unlimited", "positive number"),
    ("* soft nofile 0", "positive number"),
    ("* maybe nofile 10", "bad type"),
    ("../../etc/passwd soft nofile 10", "bad domain"),
    ("%admins soft nofile 10", "bad domain"),
    ("* soft nofile 2048\n* hard nofile 1024", "soft 2048 is above hard 1024"),
])
def test_malformed_limits_lines_are_rejected(text, message):
    with pytest.raises(BenchError, match=message):
        parse_limits_conf(text, "sysconf/x/limits.conf")


@pytest.mark.parametrize("line", [
    "session optional pam_exec.so /tmp/evil",
    "session required pam_limits.so conf=/tmp/limits",
    "auth required pam_limits.so",
    "session sufficient pam_limits.so",
    "@include common-auth",
])
def test_pam_lines_may_only_enable_pam_limits(line):
    with pytest.raises(BenchError, match="only `session required pam_limits.so`"):
        parse_pam_lines(line, "common-session", "p")


@pytest.mark.parametrize("text, present", [
    ("session required pam_limits.so\n", True),
    ("session\trequired\t/lib/x86_64-linux-gnu/security/pam_limits.so\n", True),
    ("-session optional pam_limits.so\n", True),
    ("session [success=ok default=ignore] pam_limits.so\n", True),
    ("#session required pam_limits.so\n", False),
    ("session required pam_unix.so\nauth required pam_limits.so\n", False),
    ("session [default=1] pam_permit.so\n", False),
    ("", False),
])
def test_pam_limits_is_found_as_pam_reads_it(text, present):
    assert has_pam_limits(text) is present


# -- what a new login gets -------------------------------------------------------------------

NR_OPEN = 1048576


@pytest.mark.parametrize("files, user, uid, groups, expected", [
    (["* soft nofile 4096\n* hard nofile 8192"], "alice", 1000, (), (4096, 8192)),
    (["* - nofile 4096"], "alice", 1000, (), (4096, 4096)),
    # the wildcard and groups do not reach root (Debian's limits.conf(5))
    (["* - nofile 4096\n@root - nofile 5000"], "root", 0, ("root",), (None, None)),
    (["* - nofile 4096\nroot soft nofile 2048"], "root", 0, ("root",), (2048, None)),
    # a user line beats a group line beats *, whatever the file order
    (["alice - nofile 100\n@bench - nofile 200", "* - nofile 300"], "alice", 1000, ("bench",), (100, 100)),
    (["@bench - nofile 200", "* - nofile 300"], "alice", 1000, ("bench",), (200, 200)),
    # the same rank: a later line or file wins
    (["* - nofile 300", "* - nofile 400"], "alice", 1000, (), (400, 400)),
    (["* - nofile unlimited"], "alice", 1000, (), (NR_OPEN, NR_OPEN)),
    (["1000: - nofile 700\n* - nofile 300"], "alice", 1000, (), (700, 700)),
    ([":1000 - nofile 700"], "bob", 1001, (), (None, None)),
    (["* soft nofile 9000\n* hard nofile 100"], "alice", 1000, (), (100, 100)),
    (["* - nofile 4096"], None, None, (), (4096, 4096)),
    (["# nothing\n* soft nproc 10"], "alice", 1000, (), (None, None)),
])
def test_session_nofile_follows_pam_limits(files, user, uid, groups, expected):
    assert session_nofile(files, user, uid, groups, NR_OPEN) == expected


def test_session_nofile_reads_profile_lines_too():
    lines = [LimitLine("root", "-", "nofile", 1048576, "p")]
    assert session_nofile([lines], "root", 0, (), NR_OPEN) == (1048576, 1048576)


# -- the profile folder --------------------------------------------------------------------

GOOD = {"sysctl.conf": "net.core.somaxconn = 8192\n"}


def test_a_new_profile_is_a_folder(tmp_path):
    write_profile(tmp_path / "mine", {**GOOD, "README.md": "why", "pam.d/common-session": "session optional pam_limits.so\n"})
    profile = load_profile("mine", tmp_path)
    assert [s.value for s in profile.sysctls] == ["8192"]
    assert profile.pam[0].text == "session optional pam_limits.so"


@pytest.mark.parametrize("name", ["../../etc", "..", "/etc", "seed/../..", ".hidden", ""])
def test_profile_names_cannot_leave_sysconf(name, tmp_path):
    write_profile(tmp_path / "mine", GOOD)
    with pytest.raises(BenchError, match="bad profile name"):
        load_profile(name, tmp_path)


@pytest.mark.parametrize("files, message", [
    ({**GOOD, "passwd": "root::0:0::/:/bin/sh"}, "not a profile file"),
    ({**GOOD, "pam.d/shadow": "x"}, "not a profile file"),
    ({**GOOD, "pam.d/sshd": "session required pam_limits.so"}, "not a profile file"),
    ({**GOOD, "etc/sysctl.d/x.conf": "x"}, "not a profile file"),
    ({"sysctl.conf": "kernel.core_pattern = |/tmp/evil %p"}, "not a key tune may set"),
    ({}, "is empty"),
])
def test_hostile_or_broken_profile_folders_are_rejected(tmp_path, files, message):
    folder = write_profile(tmp_path / "bad", files)
    folder.mkdir(exist_ok=True)
    with pytest.raises(BenchError, match=message):
        load_profile("bad", tmp_path)


def test_a_symlinked_profile_file_is_rejected(tmp_path):
    (tmp_path / "outside").write_text("net.core.somaxconn = 8192\n")
    folder = tmp_path / "sysconf" / "linked"
    folder.mkdir(parents=True)
    os.symlink(tmp_path / "outside", folder / "sysctl.conf")
    with pytest.raises(BenchError, match="not symlinks"):
        load_profile("linked", tmp_path / "sysconf")


def test_an_unknown_profile_names_the_known_ones(tmp_path):
    write_profile(tmp_path / "mine", GOOD)
    with pytest.raises(BenchError, match="known: mine"):
        load_profile("theirs", tmp_path)
