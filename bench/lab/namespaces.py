"""The lab's side effects: bring namespaces, bridge, keys and sshd up, check them, tear them down.

The namespaces hang off a bridge in the root namespace through veth pairs, on a /24
of their own and with no default route, so nothing sent in the lab can leave it.
Every name carries a short random id and the subnet is picked free, so several labs
run side by side. The layout is written to ``root/lab.json`` before anything is
created, so :func:`down` can tear a lab down from any process, even after a crash
halfway through :func:`up`.
"""
from __future__ import annotations

import ipaddress
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from bench import hosts
from bench.errors import BenchError

from . import users
from .files import check_folder, own_folder, write_file
from .topology import (
    SSH_PORT,
    STATE,
    SUBNETS,
    LabHost,
    LabHostStatus,
    NamespaceLab,
    free_subnet,
    known_hosts_line,
    layout,
    parse_networks,
    sshd_config,
)

SSHD = "/usr/sbin/sshd"
# Each tool the lab runs, and the Debian package that brings it (`inv lab.up` installs the missing ones).
TOOLS = (("ip", "iproute2"), ("ssh-keygen", "openssh-client"), ("sshd", "openssh-server"))


# sshd processes this process started, so `down` can reap them (no zombies).
_children: dict[str, subprocess.Popen] = {}


def missing_requirements() -> str | None:
    """Why a lab cannot run on this machine, or None when it can."""
    if os.geteuid() != 0:
        return "the namespace lab needs root (ip netns, sshd); run it as root"
    lacking = missing_packages()
    if lacking:
        return f"the namespace lab needs {' '.join(lacking)}: `inv lab.up` installs them, or apt-get install them"
    return None


def missing_packages() -> list[str]:
    """The packages of the lab's tools that this machine lacks."""
    found = {"ip": shutil.which("ip"), "ssh-keygen": shutil.which("ssh-keygen"),
             "sshd": SSHD if os.access(SSHD, os.X_OK) else None}
    return [package for tool, package in TOOLS if found[tool] is None]


def up(root: str | Path, names: tuple[str, ...] = ("server", "load"),
       subnet: str | None = None, port: int = SSH_PORT, timeout: float = 5.0) -> NamespaceLab:
    """Bring up one namespace with a real sshd per name; return the :class:`NamespaceLab`."""
    problem = missing_requirements()
    if problem:
        raise BenchError(problem)
    root = own_folder(Path(root).absolute())
    if (root / STATE).exists():
        raise BenchError(f"a lab is already recorded in {root / STATE}; run `inv lab.down --root {root}` first")
    lab = _claim_network(root, tuple(names), subnet, port)
    try:
        _start(lab, timeout)
    except BaseException:
        down(lab)
        raise
    return lab


def load(root: str | Path) -> NamespaceLab | None:
    """The lab recorded in ``root``, or None when there is none."""
    root = Path(root).absolute()
    if not root.exists():
        return None
    check_folder(root)  # root acts on what lab.json names: only a file of its own
    state = root / STATE
    return NamespaceLab.from_json(state.read_text()) if state.exists() else None


def down(root_or_lab: str | Path | NamespaceLab, timeout: float = 5.0) -> NamespaceLab | None:
    """Stop the lab's sshd and everything else in its namespaces, delete its links.

    Idempotent, and tolerant of anything already gone; returns the lab torn down.
    """
    lab = root_or_lab if isinstance(root_or_lab, NamespaceLab) else load(root_or_lab)
    if lab is None:
        return None
    if lab.user is not None:
        users.revoke(lab.user)  # first: it is root on this machine, and what follows can fail
    for host in lab.hosts:
        _stop_sessions(host, timeout)
        _stop_sshd(host, timeout)
    for host in lab.hosts:
        _ip("link", "del", host.veth, missing_ok=True)
        _ip("netns", "del", host.namespace, missing_ok=True)
    _ip("link", "del", lab.bridge, missing_ok=True)
    links = [host.veth for host in lab.hosts] + [lab.bridge]
    _wait(lambda: not any(_link_exists(name) for name in links), timeout,
          f"links {', '.join(links)} still exist after deletion; check `ip link`")
    if lab.user is not None:
        users.remove(lab.user)  # after its sessions stopped: userdel refuses a user with processes
    (lab.root / STATE).unlink(missing_ok=True)
    return lab


def status(lab: NamespaceLab) -> list[LabHostStatus]:
    """Each host's namespace, sshd pid and whether it accepts TCP connections now."""
    return [
        LabHostStatus(
            name=host.name,
            namespace=Path("/run/netns", host.namespace).exists(),
            sshd_pid=_sshd_pid(host),
            accepting=_accepts(host.address, host.port, 0.2),
        )
        for host in lab.hosts
    ]


def connect(host: LabHost, **kw) -> hosts.SSHHost:
    """A strict SSH connection to a lab host, with the lab's key and known_hosts."""
    kw.setdefault("key_filename", str(host.key))
    kw.setdefault("known_hosts", str(host.known_hosts))
    kw.setdefault("connect_timeout", 5.0)
    return hosts.connect(host.spec, **kw)


def _claim_network(root: Path, names: tuple[str, ...], subnet: str | None, port: int) -> NamespaceLab:
    """Plan the lab, record it, and bring up its bridge on a subnet nobody else uses.

    Two labs starting at once may both see a subnet free: each checks after taking it
    and the loser backs off to another one.
    """
    for _ in range(5):
        lab_id = secrets.token_hex(3)
        used = [net for _, net in parse_networks(_ip("-o", "-4", "addr"))]
        if subnet is not None:
            chosen = _given_subnet(subnet, used)
        else:
            chosen = free_subnet(used, int(lab_id, 16) % SUBNETS)
        lab = layout(root, names, chosen, lab_id, port)
        if _link_exists(lab.bridge):
            continue
        _write_state(lab)
        try:
            _ip("link", "add", lab.bridge, "type", "bridge")
            _ip("addr", "add", f"{lab.gateway}/{chosen.prefixlen}", "dev", lab.bridge)
            _ip("link", "set", lab.bridge, "up")
        except BaseException:
            down(lab)
            raise
        others = [dev for dev, net in parse_networks(_ip("-o", "-4", "addr"))
                  if dev != lab.bridge and net.overlaps(chosen)]
        if not others:
            return lab
        down(lab)
        if subnet is not None:
            raise BenchError(f"subnet {subnet} is in use on {others[0]}; pick another or leave it out")
    raise BenchError("could not claim a free subnet for the lab after 5 tries; run again")


def _write_state(lab: NamespaceLab) -> None:
    """lab.json, atomically: a crash never leaves a half-written one for `down` to choke on."""
    write_file(lab.root / STATE, lab.to_json())


def _given_subnet(text: str, used: list[ipaddress.IPv4Network]) -> ipaddress.IPv4Network:
    try:
        chosen = ipaddress.IPv4Network(text)
    except ValueError:
        raise BenchError(f"bad lab subnet {text!r}: write it as 10.210.7.0/24") from None
    clash = next((net for net in used if net.overlaps(chosen)), None)
    if clash:
        raise BenchError(f"subnet {chosen} overlaps {clash} already on this machine; pick another or leave it out")
    return chosen


def _start(lab: NamespaceLab, timeout: float) -> None:
    prefix = ipaddress.IPv4Network(lab.subnet).prefixlen
    for host in lab.hosts:
        _ip("netns", "add", host.namespace)
        _ip("link", "add", host.veth, "type", "veth", "peer", "name", "eth0", "netns", host.namespace)
        _ip("link", "set", host.veth, "master", lab.bridge, "up")
        _ip("-n", host.namespace, "addr", "add", f"{host.address}/{prefix}", "dev", "eth0")
        _ip("-n", host.namespace, "link", "set", "eth0", "up")
        _ip("-n", host.namespace, "link", "set", "lo", "up")
    _make_keys(lab)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    for host in lab.hosts:
        write_file(host.sshd_config, sshd_config(host, lab.authorized_keys))
        host.pid_file.unlink(missing_ok=True)
        _children[str(host.pid_file)] = subprocess.Popen(
            ["ip", "netns", "exec", host.namespace, SSHD, "-D", "-f", str(host.sshd_config), "-E", str(host.log)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    for host in lab.hosts:
        _wait_for_sshd(host, timeout)


def _make_keys(lab: NamespaceLab) -> None:
    """The client key and each host's key, generated in parallel; then known_hosts."""
    keys = [lab.key] + [path for host in lab.hosts for path in host.host_keys]
    for path in keys:
        own_folder(path.parent)
        path.unlink(missing_ok=True)
        path.with_name(path.name + ".pub").unlink(missing_ok=True)
    jobs = [
        (path, subprocess.Popen(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"twisted-lab-{lab.id}",
                                 "-f", str(path)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True))
        for path in keys
    ]
    for path, job in jobs:
        output, _ = job.communicate()
        if job.returncode != 0:
            raise BenchError(f"ssh-keygen failed for {path}: {output.strip()}")
    write_file(lab.authorized_keys, Path(f"{lab.key}.pub").read_text())
    write_file(lab.known_hosts, "".join(
        known_hosts_line(host, Path(f"{path}.pub").read_text())
        for host in lab.hosts for path in host.host_keys
    ))


def _wait_for_sshd(host: LabHost, timeout: float) -> None:
    child = _children.get(str(host.pid_file))
    deadline = time.monotonic() + timeout
    # sshd binds its listener before it writes its PidFile: wait for both, so status()
    # and down() find it by pid as soon as up() returns.
    while not (_accepts(host.address, host.port, 0.1) and _sshd_pid(host) is not None):
        if child is not None and child.poll() is not None:
            raise BenchError(f"sshd for lab host {host.name} exited ({child.returncode}): {_log_tail(host.log)}")
        if time.monotonic() > deadline:
            raise BenchError(f"sshd for lab host {host.name} not accepting on {host.address}:{host.port} (or no pid in {host.pid_file}) "
                             f"after {timeout:g}s: {_log_tail(host.log)}")
        time.sleep(0.005)


def _accepts(address: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def _log_tail(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return f"no log at {log}"
    return " | ".join(lines[-3:]) or f"{log} is empty"


def _sshd_pid(host: LabHost) -> int | None:
    """The pid in the host's PidFile when that process is this lab's sshd, running."""
    try:
        pid = int(host.pid_file.read_text().split()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError, IndexError):
        return None
    # A stale pid file may name a pid reused by another process: check it is ours.
    # sshd rewrites its title ("sshd: /usr/sbin/sshd -D -f CONF ... [listener]").
    return pid if str(host.sshd_config).encode() in cmdline else None


def _stop_sessions(host: LabHost, timeout: float) -> None:
    """Stop every process in the namespace but the sshd listener: its SSH sessions and
    whatever they started (servers, load generators).

    They go first, while the listener still lives to reap its session processes.
    """
    if not Path("/run/netns", host.namespace).exists():
        return
    listener = _sshd_pid(host)
    pids = [int(pid) for pid in _ip("netns", "pids", host.namespace, missing_ok=True).split()]
    _kill_and_wait([pid for pid in pids if pid != listener], timeout)


def _stop_sshd(host: LabHost, timeout: float) -> None:
    """Stop the host's sshd by the pid in its PidFile (and reap it when it is our child)."""
    pids = {pid for pid in [_sshd_pid(host)] if pid is not None}
    child = _children.pop(str(host.pid_file), None)
    if child is not None and child.poll() is None:
        pids.add(child.pid)
    _kill_and_wait(sorted(pids), timeout, child)
    host.pid_file.unlink(missing_ok=True)


def _kill_and_wait(pids: list[int], timeout: float, child: subprocess.Popen | None = None) -> None:
    """SIGTERM, wait up to ``timeout``, then SIGKILL what is left."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        while True:
            if child is not None:
                child.poll()  # reaps it
            pids = [pid for pid in pids if _lingering(pid)]
            if not pids or time.monotonic() > deadline:
                break
            time.sleep(0.005)
        if not pids:
            return
    running = [pid for pid in pids if _process_state(pid) not in (None, "Z")]
    if running:
        raise BenchError(f"processes {running} survived SIGKILL; check them with `ps -p {','.join(map(str, running))}`")


def _lingering(pid: int) -> bool:
    """True while ``pid`` runs, or is a zombie that its parent should still reap.

    A zombie whose parent is init counts as gone: init on some machines never reaps.
    """
    state = _process_state(pid)
    if state is None:
        return False
    if state != "Z":
        return True
    try:
        ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return False
    return ppid > 1


def _process_state(pid: int) -> str | None:
    """The state letter of ``pid`` (R, S, Z...), or None when there is no such process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def _link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def _ip(*args: str, missing_ok: bool = False) -> str:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        error = result.stderr.strip()
        if missing_ok and re.search(r"Cannot find device|No such file", error):
            return ""
        raise BenchError(f"`ip {' '.join(args)}` failed: {error}; check that you are root and iproute2 works")
    return result.stdout


def _wait(done, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise BenchError(message)
        time.sleep(0.005)
