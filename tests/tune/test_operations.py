"""Operations on hand-made host states (pure): why a key cannot be set, validation
against the host, the drop-ins, the PAM line, the snapshot and restoring from it."""
import os
import re
import shlex
import shutil
import subprocess

import pytest

from bench.hosts import LocalHost
from bench.tune.operations import (
    NofileLimit,
    PamLimitsLine,
    RestoreFile,
    SysctlDropIn,
    SysctlKey,
    operations,
    remove_file,
    write_file,
)
from bench.tune.keys import KEYS
from bench.tune.profile import Profile, load_profile, parse_limits_conf, parse_sysctl_conf
from bench.tune.state import File, ProbedState, Sysctl

# Every test checks that the machine's own sysctls are as they were.
pytestmark = pytest.mark.usefixtures("machine_unchanged")


def state(values=None, files=None, confined=None, writable=True, user="root", uid=0, memory_kb=2 * 2**20):
    sysctls = {name: Sysctl(value, writable) for name, value in {
        "net.core.somaxconn": "4096", "net.ipv4.ip_local_port_range": "32768 60999",
        "net.core.netdev_max_backlog": "1000", "fs.file-max": "2466170", "fs.nr_open": "1048576",
        **(values or {})}.items()}
    return ProbedState(root="/r", sysctls=sysctls, files={k: File(v) for k, v in (files or {}).items()},
                       confined=confined, user=user, uid=uid, groups=(), nofile_now=(1024, 4096), memory_kb=memory_kb)


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


def test_a_global_key_refused_on_signs_alone_names_the_flag_that_says_the_machine_is_yours():
    guessed = state(confined="a container (/.dockerenv says so)")
    guessed.guessed = True
    assert key_op("fs.file-max", "16777216").skip(guessed) == (
        "global: not set inside a container (/.dockerenv says so), it would change the whole machine; "
        "if the machine is yours, pass --whole-machine (tune.whole_machine)")
    assert "--whole-machine" not in key_op("fs.file-max", "16777216").skip(state(confined="a user namespace"))


@pytest.mark.parametrize("name, value, kept", [
    ("net.ipv4.tcp_max_orphans", "8192", "already higher, kept"),  # the seed's, below today's 131072
    ("net.core.somaxconn", "128", "already higher, kept"),
    ("net.ipv4.ip_local_port_range", "40000 50000", "already wider, kept"),
    ("net.core.somaxconn", "8192", None),
    ("net.core.somaxconn", "4096", None),
])
def test_a_raise_only_key_the_host_already_has_more_of_is_kept(name, value, kept):
    host = state({"net.ipv4.tcp_max_orphans": "131072"})
    op = key_op(name, value)
    assert op.kept(host) == kept and op.problems(host) == []
    if kept:
        assert not op.changes(host) and op.wanted(host) == host.value(name) and op.verify(host)
    assert SysctlKey(KEYS[name], value, "snapshot", restoring=True).kept(host) is None


@pytest.mark.parametrize("name, value, memory_kb, problem", [
    ("net.ipv4.tcp_mem", " ".join(["9000000000000000000"] * 3), 2 * 2**20,
     "p/sysctl.conf:1: net.ipv4.tcp_mem = 9000000000000000000 9000000000000000000 9000000000000000000 is above 262144 "
     "on this host of 2.0 GiB (TCP may take this many pages before it holds back: at most half of RAM); lower it"),
    ("net.ipv4.tcp_max_orphans", "100000", 2**20,
     "p/sysctl.conf:1: net.ipv4.tcp_max_orphans = 100000 is above 16384 on this host of 1.0 GiB (each orphan holds up "
     "to 64 KiB of unswappable memory: at most RAM's worth); lower it"),
    ("fs.pipe-max-size", str(2**30), 2 * 2**20, "is above 268435456 on this host of 2.0 GiB"),
    ("net.ipv4.tcp_mem", "100 200 300", None, "p/sysctl.conf:1: net.ipv4.tcp_mem is bounded by the host's RAM, and its "
                                             "MemTotal cannot be read; set it by hand or delete the line"),
])
def test_a_value_standing_for_more_memory_than_the_host_may_give_is_one_line(name, value, memory_kb, problem):
    host = state({"net.ipv4.tcp_mem": "1 2 3", "net.ipv4.tcp_max_orphans": "4096", "fs.pipe-max-size": "1048576"},
                 memory_kb=memory_kb)
    problems = key_op(name, value).problems(host)
    assert len(problems) == 1 and problem in problems[0]


def test_the_seeds_profile_fits_a_host_of_one_gib():
    host = state({"net.ipv4.tcp_max_orphans": "4096", "fs.pipe-max-size": "1048576",
                  "net.ipv4.tcp_max_syn_backlog": "512", "fs.file-max": "100000"}, memory_kb=2**20)
    assert [problem for op in operations(load_profile("seed")) for problem in op.problems(host)] == []


def test_a_profile_that_raises_one_number_and_lowers_another_is_an_error_naming_the_line():
    host = state({"net.ipv4.tcp_rmem": "4096 131072 6291456", "net.ipv4.ip_local_port_range": "1024 60999"})
    problems = key_op("net.ipv4.tcp_rmem", "4096 87380 16777216").problems(host)
    assert len(problems) == 1 and "p/sysctl.conf:1" in problems[0] and "lower this host's 4096 131072 6291456" in problems[0]
    assert "narrow" in key_op("net.ipv4.ip_local_port_range", "2000 65535").problems(host)[0]


def test_the_sysctl_drop_in_holds_only_the_keys_set_here():
    profile = profile_from_text("net.core.somaxconn = 8192\nfs.file-max = 16777216\nnet.ipv4.tcp_max_orphans = 9\n")
    keys = [op for op in operations(profile) if isinstance(op, SysctlKey)]
    dropin = SysctlDropIn(profile, keys)
    assert dropin.wanted(state()).splitlines()[1:] == ["net.core.somaxconn = 8192", "fs.file-max = 16777216"]
    assert dropin.wanted(state(confined="network namespace x")).splitlines()[1:] == ["net.core.somaxconn = 8192"]
    keys[0].failed = "Invalid argument"
    assert dropin.wanted(state(confined="network namespace x")) is None


def test_the_sysctl_drop_in_leaves_out_a_kept_key_so_a_boot_never_lowers_it():
    profile = profile_from_text("net.core.somaxconn = 8192\nnet.ipv4.tcp_max_orphans = 8192\n")
    keys = [op for op in operations(profile) if isinstance(op, SysctlKey)]
    host = state({"net.ipv4.tcp_max_orphans": "131072"})
    assert SysctlDropIn(profile, keys).wanted(host).splitlines()[1:] == ["net.core.somaxconn = 8192"]


@pytest.mark.parametrize("limits, existing, message", [
    ("* - nofile 2000000", "", "above fs.nr_open 1048576"),
    ("root - nofile 1048576", "root hard nofile 2097152\n", "nofile hard 1048576 for root would lower the 2097152"),
    ("* - nofile 4096", "* soft nofile 8192\n", "nofile soft 4096 for other users would lower the 8192"),
    ("* - nofile 1048576", "* - nofile 1024\n", None),
    ("* - nofile 1048576", "root - nofile 4000000\n", None),
    # no limits file says a thing: the live limit (1024 4096 here) is the floor
    ("* hard nofile 1", "", "nofile hard 1 for other users is below the live limit 4096"),
    ("root - nofile 2048", "", "nofile hard 2048 for root is below the live limit 4096"),
    ("* soft nofile 512\n* hard nofile 8192", "", "nofile soft 512 for other users is below the live limit 1024"),
])
def test_nofile_limits_are_validated_against_the_host(limits, existing, message):
    profile = profile_from_text(limits_conf=limits)
    problems = NofileLimit(profile).problems(state(files={"etc/security/limits.conf": existing}))
    if message is None:
        assert problems == []
    else:
        assert len(problems) == 1 and message in problems[0]


def test_a_limit_below_the_live_one_is_one_line_for_everyone_it_reaches():
    profile = profile_from_text(limits_conf="* hard nofile 1")
    problems = NofileLimit(profile).problems(state(user="alice", uid=1000))
    assert problems == [problems[0]] and "\n" not in problems[0]
    assert "nofile hard 1 for other users and alice is below the live limit 4096 (alice's session" in problems[0]


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


# -- writing files, on this machine under a test folder ---------------------------------------

def test_write_file_does_not_follow_a_symlink_planted_at_a_temporary_name(tmp_path):
    """The old fixed name `<path>.tune-tmp` was opened with `>`: root wrote through the link."""
    folder, outside = tmp_path / "etc", tmp_path / "outside"
    folder.mkdir()
    outside.write_text("someone else's file\n")
    target = folder / "99-twisted-lab.conf"
    os.symlink(outside, folder / "99-twisted-lab.conf.tune-tmp")
    write_file(LocalHost(), str(target), "net.core.somaxconn = 8192\n")
    assert outside.read_text() == "someone else's file\n"
    assert not target.is_symlink() and target.read_text() == "net.core.somaxconn = 8192\n"
    assert oct(target.stat().st_mode & 0o777) == "0o644"
    assert sorted(p.name for p in folder.iterdir()) == ["99-twisted-lab.conf", "99-twisted-lab.conf.tune-tmp"]


def test_write_file_keeps_the_mode_of_the_file_it_replaces_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "common-session"
    target.write_text("old\n")
    target.chmod(0o600)
    write_file(LocalHost(), str(target), "new\n")
    assert target.read_text() == "new\n" and target.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["common-session"]


class TracedHost(LocalHost):
    """This machine, every root command under strace: which fd syncs follow which rename."""

    def __init__(self, log):
        super().__init__()
        self.log = log

    def sudo(self, command, **kw):
        return super().sudo(f"strace -f -qq -y -e trace=rename,renameat,renameat2,unlink,unlinkat,fsync "
                            f"-o {self.log} bash -c {shlex.quote(command)}", **kw)


@pytest.mark.parametrize("change", ["write", "remove"])
def test_the_folder_is_synced_after_a_file_is_renamed_into_place_or_removed(tmp_path, change):
    if not shutil.which("strace") or subprocess.run(["strace", "-qq", "true"]).returncode:
        pytest.skip("needs strace")
    folder = tmp_path / "var/lib/twisted-lab"
    folder.mkdir(parents=True)
    target = folder / "tune-snapshot.json"
    target.write_text("{}\n")
    host = TracedHost(tmp_path / "strace.log")
    if change == "write":
        write_file(host, str(target), '{"version": 1}\n')
    else:
        remove_file(host, str(target))
    calls = (tmp_path / "strace.log").read_text().splitlines()
    done = max(i for i, line in enumerate(calls) if re.search(r" (rename\w*|unlink\w*)\(.*tune-snapshot\.json", line))
    assert any(re.search(rf" fsync\(\d+<{re.escape(str(folder))}>\) = 0", line) for line in calls[done + 1:]), calls
