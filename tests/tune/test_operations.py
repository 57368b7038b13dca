"""Operations on hand-made host states (pure): why a key cannot be set, validation
against the host, the drop-ins, the PAM line, the snapshot and restoring from it."""
import pytest

from bench.tune.operations import (
    NofileLimit,
    PamLimitsLine,
    RestoreFile,
    SysctlDropIn,
    SysctlKey,
    operations,
)
from bench.tune.profile import KEYS, Profile, parse_limits_conf, parse_sysctl_conf
from bench.tune.state import File, ProbedState, Sysctl

# Every test checks that the machine's own sysctls are as they were.
pytestmark = pytest.mark.usefixtures("machine_unchanged")


def state(values=None, files=None, confined=None, writable=True, user="root", uid=0):
    sysctls = {name: Sysctl(value, writable) for name, value in {
        "net.core.somaxconn": "4096", "net.ipv4.ip_local_port_range": "32768 60999",
        "net.core.netdev_max_backlog": "1000", "fs.file-max": "2466170", "fs.nr_open": "1048576",
        **(values or {})}.items()}
    return ProbedState(root="/r", sysctls=sysctls, files={k: File(v) for k, v in (files or {}).items()},
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
