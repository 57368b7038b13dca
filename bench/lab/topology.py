"""The lab's topology, planned and rendered without touching the machine.

Names (bridge, namespaces, veths, each with the lab's short random id), addresses on
a free /24, every file's path, each sshd's config and known_hosts lines, and the lines
that show a lab and its status: pure functions, so tests need no root.
"""
from __future__ import annotations

import datetime
import ipaddress
import json
import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from bench.errors import BenchError

SSH_PORT = 2222
STATE = "lab.json"
PREFIX = "tlab"
# Candidate subnets 10.200.0.0/24 .. 10.249.255.0/24: far from the usual 10.0.x and 10.1.x.
FIRST_OCTET_2, SUBNETS = 200, 50 * 256
MAX_LOAD_HOSTS = 32
SUDOERS_D = Path("/etc/sudoers.d")
MAX_USER_DAYS = 365


@dataclass(frozen=True)
class LabHost:
    """One lab machine: a namespace, its address, and the files of its sshd."""

    name: str
    namespace: str
    veth: str  # the root namespace's end of the pair; its peer is eth0 inside
    address: str
    port: int
    user: str
    sshd_config: Path
    host_keys: tuple[Path, ...]
    pid_file: Path
    log: Path
    key: Path
    known_hosts: Path

    @property
    def spec(self) -> str:
        """``user@address:port``, as ``inv bench --server-host`` takes it."""
        return f"{self.user}@{self.address}:{self.port}"


@dataclass(frozen=True)
class LabUser:
    """A non-root user that logs into the lab hosts with the lab's key and uses sudo with a password.

    The namespaces share this machine's users and sudo, so it is a user of this machine with
    sudo here. ``created`` says whether the lab made it (then `inv lab.down` removes it, home and
    all, and the account expires on ``expires`` meanwhile) or was given one already here (then only
    the sudoers rule and the key line the lab added go). Its password is never recorded.
    """

    name: str
    created: bool
    sudoers: Path  # the lab's rule in /etc/sudoers.d
    key_line: str  # the line the lab added to the user's ~/.ssh/authorized_keys
    expires: str | None = None  # YYYY-MM-DD: from that day on, the account the lab made is disabled


@dataclass(frozen=True)
class NamespaceLab:
    """A set of lab hosts on one bridge, with the client key that logs into all of them."""

    id: str
    root: Path
    bridge: str
    subnet: str
    gateway: str
    key: Path
    authorized_keys: Path
    known_hosts: Path
    hosts: tuple[LabHost, ...]
    user: LabUser | None = None

    def host(self, name: str) -> LabHost:
        for host in self.hosts:
            if host.name == name:
                return host
        raise BenchError(f"no lab host {name!r}; the lab has {', '.join(h.name for h in self.hosts)}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "NamespaceLab":
        data = json.loads(text)
        paths = {"sshd_config", "pid_file", "log", "key", "known_hosts"}
        lab_hosts = tuple(
            LabHost(**{k: Path(v) if k in paths else v for k, v in host.items() if k != "host_keys"},
                    host_keys=tuple(Path(p) for p in host["host_keys"]))
            for host in data.pop("hosts")
        )
        for key in ("root", "key", "authorized_keys", "known_hosts"):
            data[key] = Path(data[key])
        user = data.pop("user", None)
        if user is not None:
            user = LabUser(**{**user, "sudoers": Path(user["sudoers"])})
        return cls(**data, hosts=lab_hosts, user=user)

    def spec(self, host: LabHost) -> str:
        """How to reach ``host`` as the lab's user when it has one, else as root."""
        return f"{self.user.name}@{host.address}:{host.port}" if self.user else host.spec

    def with_user(self, user: LabUser | None) -> "NamespaceLab":
        return replace(self, user=user)


@dataclass(frozen=True)
class LabHostStatus:
    """What the lab's ``status`` found for one lab host, right now."""

    name: str
    namespace: bool
    sshd_pid: int | None
    accepting: bool


def layout(root: Path, names: tuple[str, ...], subnet: ipaddress.IPv4Network, lab_id: str,
           port: int = SSH_PORT) -> NamespaceLab:
    """The lab's names, addresses and file paths; creates nothing."""
    if not names or len(set(names)) != len(names):
        raise BenchError(f"lab host names must be distinct and at least one: got {list(names)}")
    for name in names:
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,15}", name):
            raise BenchError(f"bad lab host name {name!r}: use lower-case letters, digits and '-'")
    addresses = list(subnet.hosts())
    if len(addresses) < len(names) + 1:
        raise BenchError(f"subnet {subnet} is too small for {len(names)} hosts and the bridge")
    key = root / "id_ed25519"
    known_hosts = root / "known_hosts"
    lab_hosts = tuple(
        LabHost(
            name=name,
            namespace=f"{PREFIX}-{lab_id}-{name}",
            veth=f"{PREFIX}{lab_id}v{index}",
            address=str(addresses[index + 1]),
            port=port,
            user="root",
            sshd_config=root / name / "sshd_config",
            host_keys=(root / name / "ssh_host_ed25519_key",),
            pid_file=root / name / "sshd.pid",
            log=root / name / "sshd.log",
            key=key,
            known_hosts=known_hosts,
        )
        for index, name in enumerate(names)
    )
    return NamespaceLab(
        id=lab_id, root=root, bridge=f"{PREFIX}{lab_id}", subnet=str(subnet),
        gateway=str(addresses[0]), key=key, authorized_keys=root / "authorized_keys",
        known_hosts=known_hosts, hosts=lab_hosts,
    )


def host_names(names: str | None = None, load_hosts: str | int | None = None) -> tuple[str, ...]:
    """The lab's host names: ``names`` (comma-separated) as given, else "server" and ``load_hosts``
    load hosts (1 when not given): "load" alone, or "load1".."loadN"."""
    if names is not None and load_hosts is not None:
        raise BenchError("give --names or --load-hosts, not both: --names lists every host, load hosts included")
    if names is not None:
        return tuple(names.split(","))
    count = str(1 if load_hosts is None else load_hosts)
    if not re.fullmatch(r"[0-9]+", count) or not 1 <= int(count) <= MAX_LOAD_HOSTS:
        raise BenchError(f"bad --load-hosts {count!r}: give a whole number of load hosts from 1 to {MAX_LOAD_HOSTS}")
    if int(count) == 1:
        return ("server", "load")
    return ("server", *(f"load{n}" for n in range(1, int(count) + 1)))


def load_hosts(lab: NamespaceLab) -> list[LabHost]:
    """The lab's load hosts ("load" or "load<digits>"), in numeric order: load1, load2, ..., load10."""
    numbered = [(int(match[1] or 0), host.name, host) for host in lab.hosts
                if (match := re.fullmatch(r"load([0-9]*)", host.name))]
    return [host for _, _, host in sorted(numbered)]


def check_user_name(name: str) -> str:
    """A lab user's name: a plain login name that is not root's."""
    if not re.fullmatch(r"[a-z_][a-z0-9_-]{0,30}", name) or name == "root":
        raise BenchError(f"bad lab user name {name!r}: a login name of lower-case letters, digits, '_' and '-', "
                         f"letter or '_' first, 31 at most, and not root")
    return name


def sudoers_rule(lab_id: str, name: str) -> str:
    """The lab's sudoers rule: ``name`` may run anything as root, after typing its own password.

    Not narrower: `inv setup` and `inv tune` run shell scripts through sudo (apt-get, files under
    /etc, sysctl -w), and apt-get alone is root. The namespaces share this machine's sudo, so this
    is root on the machine itself, which `format_lab` says.
    """
    return f"# twisted-lab {lab_id}: full root on this machine for {name}; removed by `inv lab.down`\n" \
           f"{name} ALL=(ALL:ALL) ALL\n"


def sudoers_file(lab_id: str, name: str) -> Path:
    # sudo skips files in sudoers.d whose names hold a '.' or end in '~'.
    return SUDOERS_D / f"twisted-lab-{lab_id}-{name}"


def user_expiry(today: datetime.date, days: str | int) -> str:
    """The day (YYYY-MM-DD) an account the lab makes is disabled (useradd --expiredate): ``days``, 1 to 365, from ``today``."""
    text = str(days)
    if not re.fullmatch(r"[0-9]+", text) or not 1 <= int(text) <= MAX_USER_DAYS:
        raise BenchError(f"bad --user-days {text!r}: give a whole number of days from 1 to {MAX_USER_DAYS} "
                         f"(lab.user_days)")
    return (today + datetime.timedelta(days=int(text))).isoformat()


def free_subnet(used: list[ipaddress.IPv4Network], start: int) -> ipaddress.IPv4Network:
    """The first 10.2xx.N.0/24 from ``start`` (wrapping) that overlaps none of ``used``."""
    for step in range(SUBNETS):
        index = (start + step) % SUBNETS
        candidate = ipaddress.IPv4Network(f"10.{FIRST_OCTET_2 + index // 256}.{index % 256}.0/24")
        if not any(candidate.overlaps(net) for net in used):
            return candidate
    raise BenchError("no free 10.2xx.N.0/24 subnet for the lab; run `inv lab.down` on old labs")


def parse_networks(ip_addr_output: str) -> list[tuple[str, ipaddress.IPv4Network]]:
    """(interface, network) for each IPv4 address in ``ip -o -4 addr`` output."""
    found = []
    for line in ip_addr_output.splitlines():
        match = re.match(r"\d+:\s+(\S+)\s+inet\s+(\S+)", line)
        if match:
            found.append((match[1], ipaddress.IPv4Interface(match[2]).network))
    return found


def sshd_config(host: LabHost, authorized_keys: Path) -> str:
    """The config of a lab host's sshd: key login only, everything in the lab's folder."""
    lines = [f"ListenAddress {host.address}:{host.port}"]
    lines += [f"HostKey {path}" for path in host.host_keys]
    lines += [
        f"PidFile {host.pid_file}",
        # The lab's key for root; a non-root user's own file (the lab folder is root's alone).
        f"AuthorizedKeysFile {authorized_keys} .ssh/authorized_keys",
        "PermitRootLogin prohibit-password",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes no",  # the lab's keys may live under /tmp (mode 1777)
        "UseDNS no",
        "PrintMotd no",
        "Subsystem sftp internal-sftp",  # Fabric's put/get
        "MaxStartups 100:30:200",
        "MaxSessions 50",
    ]
    return "\n".join(lines) + "\n"


def known_hosts_line(host: LabHost, public_key: str) -> str:
    """A known_hosts line for ``host``: ``[addr]:port`` unless the port is 22."""
    name = host.address if host.port == 22 else f"[{host.address}]:{host.port}"
    kind, blob = public_key.split()[:2]
    return f"{name} {kind} {blob}\n"


def format_lab(lab: NamespaceLab) -> list[str]:
    """How to reach the lab, and the ``inv bench`` flags that use it."""
    lines = [f"lab {lab.id}: {lab.subnet} on bridge {lab.bridge}, state in {lab.root / STATE}"]
    lines += [f"  {host.name:<8} {host.spec}  (netns {host.namespace})" for host in lab.hosts]
    lines += [f"  key          {lab.key}", f"  known_hosts  {lab.known_hosts}"]
    access = f"--key {lab.key} --known-hosts {lab.known_hosts}"
    if lab.user:
        hosts = " ".join(f"--host {lab.spec(host)}" for host in lab.hosts)
        user = lab.user
        how = f"created by the lab, expires {user.expires}" if user.created else \
            "already here; `inv lab.down` leaves it"
        lines += [f"  user         {user.name} ({how}; sudo asks for its password)",
                  f"  sudo         {user.sudoers} lets {user.name} run anything as root on this machine, not only "
                  f"in the lab (the lab hosts share its users and sudo), until `inv lab.down` removes it",
                  "set it up and tune it as that user with:",
                  f"  inv setup {hosts} {access}", f"  inv tune {hosts} {access}"]
    loaders = load_hosts(lab)
    if loaders and "server" in {host.name for host in lab.hosts}:
        flags = "".join(f" --load-host {lab.spec(host)}" for host in loaders)
        lines += ["run the benchmark in it with:",
                  f"  inv bench --server-host {lab.spec(lab.host('server'))}{flags} {access}"]
    return lines


def format_status(lab: NamespaceLab, statuses: list[LabHostStatus]) -> list[str]:
    """One line per host: namespace, sshd pid, and whether it accepts connections."""
    lines = [f"lab {lab.id}: {lab.subnet} on bridge {lab.bridge}"]
    for status in statuses:
        host = lab.host(status.name)
        sshd = f"sshd pid {status.sshd_pid}" if status.sshd_pid else "sshd not running"
        reach = "accepting" if status.accepting else "NOT accepting"
        netns = "netns up" if status.namespace else "netns MISSING"
        lines.append(f"  {host.name:<8} {host.spec}  {netns}, {sshd}, {reach}")
    return lines
