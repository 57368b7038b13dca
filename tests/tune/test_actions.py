"""The four actions, as real round trips.

They set real net.* sysctls inside a network namespace the test creates, and write
files only under a test root folder. Global keys (fs.*) are never written: every test
checks the machine's own values afterwards.
"""
import json
import os
import subprocess

import pytest
from tune_support import (
    COMMON_SESSION,
    NET_KEYS,
    NamespaceHost,
    UnsharedHost,
    needs_unshare,
    proc_sys,
    tree,
    write_profile,
)

from bench.errors import BenchError
from bench.hosts import LocalHost
from bench.tune.actions import apply, check, preview, revert, tuning_state
from bench.tune.outcomes import EXIT_ERROR, EXIT_PARTIAL, EXIT_TUNED
from bench.tune.profile import load_profile
from bench.tune.render import format_outcome
from bench.tune.state import LIMITS_DROPIN, SNAPSHOT, SYSCTL_DROPIN

# Every test checks that the machine's own sysctls are as they were.
pytestmark = pytest.mark.usefixtures("machine_unchanged")

# What the seed profile cannot set in a network namespace, and why.
SEED_IN_NAMESPACE = {
    "fs.file-max": "global", "fs.pipe-max-size": "global",
    "net.core.netdev_max_backlog": "absent", "net.ipv4.tcp_max_orphans": "absent",
}


def test_seed_round_trip_in_a_network_namespace(netns, root):
    host, profile = NamespaceHost(netns), load_profile("seed")
    values = {name: proc_sys(name, netns) for name in NET_KEYS}
    files = tree(root)

    found = check(host, profile, str(root))
    assert found.code == EXIT_PARTIAL and "NOT TUNED" in found.summary
    assert "network namespace " + netns in found.where

    planned = preview(host, profile, str(root))
    assert planned.code == EXIT_PARTIAL and tree(root) == files
    assert any(d.startswith("--- /dev/null\n+++ b/" + SYSCTL_DROPIN) for d in planned.diffs)
    assert {row.setting: row.state for row in planned.rows}["net.core.somaxconn"] == "change"

    applied = apply(host, profile, str(root))
    assert applied.code == EXIT_PARTIAL, format_outcome(applied)
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

    again = apply(host, profile, str(root))
    assert not again.changed and "nothing to change" in again.summary
    assert (root / SNAPSHOT).read_bytes() == snapshot

    rows = {row.setting: row for row in check(host, profile, str(root)).rows}
    assert all(rows[name].tuned for name in NET_KEYS)
    assert rows["nofile, new login as root"].current == "1048576 1048576" and rows["nofile, new login as root"].tuned
    assert rows["fs.file-nr"].tuned is None and rows["fs.file-max"].tuned is False

    reverted = revert(host, str(root))
    assert reverted.code == EXIT_TUNED, format_outcome(reverted)
    assert {name: proc_sys(name, netns) for name in NET_KEYS} == values
    assert tree(root) == files
    assert "nothing to revert" in revert(host, str(root)).summary


def test_a_namespace_only_profile_tunes_fully(netns, root, tmp_path):
    profile = write_profile(tmp_path / "sysconf", "net", {
        "sysctl.conf": "net.core.somaxconn = 16384\nnet.ipv4.tcp_tw_reuse = 1\nnet.ipv4.tcp_fin_timeout = 15\n"})
    host = NamespaceHost(netns)
    before = {name: proc_sys(name, netns) for name in ("net.core.somaxconn", "net.ipv4.tcp_fin_timeout")}
    assert apply(host, profile, str(root)).code == EXIT_TUNED
    assert check(host, profile, str(root)).code == EXIT_TUNED
    state = tuning_state(host, profile, str(root))
    assert state["net.core.somaxconn"] == {"current": "16384", "profile": "16384", "tuned": True, "state": "tuned"}
    assert state["net.ipv4.tcp_fin_timeout"]["tuned"] and state["fs.file-nr"]["tuned"] is None
    assert revert(host, str(root)).code == EXIT_TUNED
    assert {name: proc_sys(name, netns) for name in before} == before


def test_keys_that_cannot_be_set_are_reported_and_the_rest_applied(netns, root, tmp_path):
    profile = write_profile(tmp_path / "sysconf", "mixed", {"sysctl.conf": (
        "net.core.rmem_max = 8388608\n"                       # read-only in a namespace
        "net.ipv4.tcp_congestion_control = nosuchalgorithm\n"  # the kernel refuses it
        "net.core.somaxconn = 8192\n")})
    host = NamespaceHost(netns)
    outcome = apply(host, profile, str(root))
    assert outcome.code == EXIT_PARTIAL
    reasons = dict(line.split(": ", 1) for line in outcome.skipped)
    assert reasons["net.core.rmem_max"] == "read-only here"
    assert reasons["net.ipv4.tcp_congestion_control"].startswith("failed: ")
    assert proc_sys("net.core.somaxconn", netns) == "8192"
    assert (root / SYSCTL_DROPIN).read_text().splitlines()[1:] == ["net.core.somaxconn = 8192"]
    assert revert(host, str(root)).code == EXIT_TUNED
    assert not (root / SYSCTL_DROPIN).exists()


@pytest.mark.parametrize("files, message", [
    ({"sysctl.conf": "net.ipv4.tcp_rmem = 4096 1 1073741824\nnet.ipv4.tcp_max_syn_backlog = 8192\n"}, "would lower"),
    ({"sysctl.conf": "net.ipv4.ip_local_port_range = 40000 65535\n"}, "would narrow"),
    ({"sysctl.conf": "net.core.somaxconn = 8192\n", "limits.conf": "* - nofile 99999999\n"}, "above fs.nr_open"),
    ({"sysctl.conf": "net.core.somaxconn = 8192\n", "limits.conf": "* hard nofile 1\n"}, "below the live limit"),
])
def test_a_profile_that_does_not_fit_the_host_changes_nothing(netns, root, tmp_path, files, message):
    profile = write_profile(tmp_path / "sysconf", "bad", files)
    host = NamespaceHost(netns)
    values, before = {name: proc_sys(name, netns) for name in NET_KEYS}, tree(root)
    outcome = apply(host, profile, str(root))
    assert outcome.code == EXIT_ERROR and message in " ".join(outcome.errors)
    assert {name: proc_sys(name, netns) for name in NET_KEYS} == values
    assert tree(root) == before


def test_a_raise_only_key_the_host_already_has_more_of_is_kept_and_the_rest_applied(netns, root, tmp_path):
    profile = write_profile(tmp_path / "sysconf", "low", {"sysctl.conf": (
        "net.core.somaxconn = 128\n"                         # below the namespace's 4096
        "net.ipv4.ip_local_port_range = 40000 50000\n"       # inside its 32768 60999
        "net.ipv4.tcp_max_syn_backlog = 8192\n")})
    host = NamespaceHost(netns)
    values, files = {name: proc_sys(name, netns) for name in NET_KEYS}, tree(root)
    planned = preview(host, profile, str(root))
    assert planned.code == EXIT_TUNED and not planned.errors, format_outcome(planned)
    assert {row.setting: row.state for row in planned.rows} == {
        "net.core.somaxconn": "already higher, kept", "net.ipv4.ip_local_port_range": "already wider, kept",
        "net.ipv4.tcp_max_syn_backlog": "change"}

    applied = apply(host, profile, str(root))
    assert applied.code == EXIT_TUNED and applied.summary == "applied: 2 changed and verified", format_outcome(applied)
    assert applied.kept == [f"net.core.somaxconn: already higher, kept ({values['net.core.somaxconn']}; the profile asks 128)",
                            f"net.ipv4.ip_local_port_range: already wider, kept "
                            f"({values['net.ipv4.ip_local_port_range']}; the profile asks 40000 50000)"]
    assert "kept: net.core.somaxconn: already higher, kept" in "\n".join(format_outcome(applied))
    assert [proc_sys(name, netns) for name in NET_KEYS] == [
        values["net.core.somaxconn"], "8192", values["net.ipv4.ip_local_port_range"]]
    assert (root / SYSCTL_DROPIN).read_text().splitlines()[1:] == ["net.ipv4.tcp_max_syn_backlog = 8192"]
    assert set(json.loads((root / SNAPSHOT).read_text())["sysctl"]) == {"net.ipv4.tcp_max_syn_backlog"}

    rows = {row.setting: row for row in check(host, profile, str(root)).rows}
    assert rows["net.core.somaxconn"].tuned and rows["net.core.somaxconn"].state == "already higher, kept"
    assert check(host, profile, str(root)).code == EXIT_TUNED
    assert revert(host, str(root)).code == EXIT_TUNED
    assert {name: proc_sys(name, netns) for name in NET_KEYS} == values and tree(root) == files


def test_the_seed_dry_run_on_this_machine_keeps_tcp_max_orphans(root):
    """Today's kernels default tcp_max_orphans far above the seed's 8192 (131072 here)."""
    live = proc_sys("net.ipv4.tcp_max_orphans")
    if live is None or int(live) <= 8192:
        pytest.skip(f"needs tcp_max_orphans above the seed's 8192, this machine has {live}")
    planned = preview(LocalHost(), load_profile("seed"), str(root))
    assert planned.code in (EXIT_TUNED, EXIT_PARTIAL) and not planned.errors, format_outcome(planned)
    assert {row.setting: row.state for row in planned.rows}["net.ipv4.tcp_max_orphans"] == "already higher, kept"
    assert "tcp_max_orphans" not in "".join(planned.diffs)


class RacingHost(NamespaceHost):
    """Starts a second `inv tune` on the same host and root while the first one applies."""

    second = None

    def __init__(self, namespace, profile, root):
        super().__init__(namespace)
        self.profile, self.root = profile, root

    def sudo(self, command, **kw):
        if "sysctl -w" in command and self.second is None:
            try:
                self.second = apply(NamespaceHost(self.namespace), self.profile, self.root)
            except BenchError as exc:
                self.second = exc
        return super().sudo(command, **kw)


def test_two_runs_at_once_are_refused_with_a_lock(netns, root):
    profile, values = load_profile("seed"), {name: proc_sys(name, netns) for name in NET_KEYS}
    host = RacingHost(netns, profile, str(root))
    first = apply(host, profile, str(root))
    assert first.code == EXIT_PARTIAL and not first.errors, format_outcome(first)
    assert isinstance(host.second, BenchError), host.second
    assert str(host.second).startswith(f"netns {netns}: another `inv tune` is applying or reverting here")
    assert f"{root}/var/lib/twisted-lab/tune.lock" in str(host.second) and "\n" not in str(host.second)
    assert not (root / "var/lib/twisted-lab/tune.lock").exists()
    host.second = None
    assert revert(host, str(root)).code == EXIT_TUNED and isinstance(host.second, BenchError)
    assert {name: proc_sys(name, netns) for name in NET_KEYS} == values


def test_a_symlink_under_root_is_refused_and_nothing_changes(netns, root, tmp_path):
    outside = tmp_path / "outside-common-session"
    outside.write_text(COMMON_SESSION)
    (root / "etc/pam.d/common-session").unlink()
    os.symlink(outside, root / "etc/pam.d/common-session")
    host, values = NamespaceHost(netns), proc_sys("net.core.somaxconn", netns)
    outcome = apply(host, load_profile("seed"), str(root))
    assert outcome.code == EXIT_ERROR and "symlink" in outcome.errors[0]
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
        apply(CrashingHost(netns), load_profile("seed"), str(root))
    assert (root / SNAPSHOT).exists() and proc_sys("net.core.somaxconn", netns) == "8192"
    outcome = revert(NamespaceHost(netns), str(root))
    assert outcome.code == EXIT_TUNED, format_outcome(outcome)
    assert {name: proc_sys(name, netns) for name in NET_KEYS} == values and tree(root) == files


def test_the_drop_in_brings_values_back_after_a_reboot_and_revert_still_works(netns, root):
    host, profile = NamespaceHost(netns), load_profile("seed")
    values, files = {name: proc_sys(name, netns) for name in NET_KEYS}, tree(root)
    apply(host, profile, str(root))
    # A reboot, as far as the namespace goes: a fresh one, then what systemd-sysctl does.
    subprocess.run(["ip", "netns", "del", netns], check=True)
    subprocess.run(["ip", "netns", "add", netns], check=True)
    assert {name: proc_sys(name, netns) for name in NET_KEYS} == values
    subprocess.run(["ip", "netns", "exec", netns, "sysctl", "-q", "-p", str(root / SYSCTL_DROPIN)], check=True)
    assert check(host, profile, str(root)).rows[3].tuned
    assert revert(host, str(root)).code == EXIT_TUNED
    assert {name: proc_sys(name, netns) for name in NET_KEYS} == values and tree(root) == files


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
        revert(NamespaceHost(netns), str(root))


def test_signs_of_a_container_keep_global_keys_unless_the_user_says_the_machine_is_theirs(root):
    """A pid namespace of its own is a sign of a container, not proof that /proc/sys is shared: only plans are made."""
    needs_unshare()
    host, profile, files = UnsharedHost("--pid", "--fork", "--mount-proc"), load_profile("seed"), tree(root)
    planned = preview(host, profile, str(root))
    reasons = dict(line.split(": ", 1) for line in planned.skipped)
    assert reasons["fs.file-max"] == ("global: not set inside a container (a pid namespace of its own), it would "
                                      "change the whole machine; if the machine is yours, pass --whole-machine "
                                      "(tune.whole_machine)")
    assert planned.code == EXIT_PARTIAL
    theirs = preview(host, profile, str(root), whole_machine=True)
    assert not [line for line in theirs.skipped if line.startswith("fs.")]
    assert {row.setting: row.state for row in theirs.rows}["fs.file-max"] in ("change", "already higher, kept")
    assert tree(root) == files


def test_an_apply_told_the_machine_is_the_users_records_it_for_revert(netns, root, tmp_path):
    host = NamespaceHost(netns)
    profile = write_profile(tmp_path / "sysconf", "net", {"sysctl.conf": "net.core.somaxconn = 8192\n"})
    applied = apply(host, profile, str(root), whole_machine=True)
    assert applied.code == EXIT_TUNED, format_outcome(applied)
    assert json.loads((root / SNAPSHOT).read_text())["whole_machine"] is True
    assert revert(host, str(root)).code == EXIT_TUNED and not (root / SNAPSHOT).exists()
