"""What the tune tests share: Debian-like PAM and limits files, a host inside a network
namespace, and reading /proc/sys and a root folder from outside."""
import os
import shlex
import shutil
import subprocess

import pytest

from bench.hosts import LocalHost
from bench.tune.keys import KEYS
from bench.tune.profile import load_profile

NET_KEYS = ("net.core.somaxconn", "net.ipv4.tcp_max_syn_backlog", "net.ipv4.ip_local_port_range")
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


def needs_unshare():
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare (util-linux)")


class UnsharedHost(LocalHost):
    """This machine, with every command run in namespaces of its own (unshare): a real container's view
    of /proc, with the machine's own /proc/sys."""

    def __init__(self, *flags):
        super().__init__()
        self.flags = " ".join(flags)

    def run(self, command, **kw):
        return super().run(f"unshare {self.flags} sh -c {shlex.quote(command)}", **kw)


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
