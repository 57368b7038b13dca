"""What tune reads from a host, in one probe: sysctls, the files under root, who and where.

One probe command reads the whole state (sysctls from ``/proc/sys``, files as base64,
who and where we are) with no privileges, alike on this machine, in a network
namespace and over SSH. Live values are real even when ``root`` is a test folder:
``root`` moves files only. Inside a network namespace or a container only ``net.*``
keys belong to the target; the others (``fs.*``) are the whole machine's, which is
why the probe says where it runs: from evidence (the namespaces it is in) before signs
(a container's marker file), and only signs can be overruled by the user.
"""
from __future__ import annotations

import base64
import json
import shlex
from dataclasses import dataclass

from bench.errors import BenchError
from bench.hosts import Host

from .keys import INTEREST, KEYS, parse_value
from .profile import PAM_SERVICES, has_pam_limits

SYSCTL_DROPIN = "etc/sysctl.d/99-twisted-lab.conf"
LIMITS_CONF = "etc/security/limits.conf"
LIMITS_D = "etc/security/limits.d"
LIMITS_DROPIN = f"{LIMITS_D}/99-twisted-lab.conf"
STATE_DIR = "var/lib/twisted-lab"
SNAPSHOT = f"{STATE_DIR}/tune-snapshot.json"
# The inode numbers the kernel gives its first user and pid namespaces (PROC_USER_INIT_INO, PROC_PID_INIT_INO).
FIRST_USER_NAMESPACE, FIRST_PID_NAMESPACE = "user:[4026531837]", "pid:[4026531836]"
WHOLE_UID_MAP = "0 0 4294967295"  # the first user namespace maps every uid to itself
# A login gets the limits files only if pam_limits is in its session stack.
LOGIN_PAM = PAM_SERVICES + ("sshd",)
FIXED_FILES = (SYSCTL_DROPIN, LIMITS_CONF, SNAPSHOT) + tuple(f"etc/pam.d/{s}" for s in LOGIN_PAM)
# The only files tune ever writes (besides its snapshot), so the only ones a revert may.
TARGETS = (SYSCTL_DROPIN, LIMITS_DROPIN) + tuple(f"etc/pam.d/{s}" for s in PAM_SERVICES)


@dataclass(frozen=True)
class Sysctl:
    """A key as read from /proc/sys: its value (None when absent) and whether it is writable."""

    value: str | None
    writable: bool


@dataclass(frozen=True)
class File:
    """A file under root: its text (None when absent), or why tune must not write it."""

    text: str | None
    problem: str | None = None


@dataclass
class ProbedState:
    """Everything tune reads from a host, in one probe."""

    root: str
    sysctls: dict[str, Sysctl]
    files: dict[str, File]
    confined: str | None  # e.g. "network namespace lab-1"; None on a machine of its own
    user: str
    uid: int
    groups: tuple[str, ...]
    nofile_now: tuple[int, int]
    memory_kb: int | None = None  # MemTotal; None when it cannot be read
    page_size: int = 4096
    guessed: bool = False  # ``confined`` rests on signs of a container only: the user may say the machine is theirs

    def value(self, key: str) -> str | None:
        reading = self.sysctls.get(key)
        return reading.value if reading else None

    def text(self, relative: str) -> str | None:
        reading = self.files.get(relative)
        return reading.text if reading else None

    @property
    def nr_open(self) -> int:
        return int(self.value("fs.nr_open") or 1048576)

    def limits_files(self, without: str | None = None) -> list[str]:
        """The limits files' texts in pam_limits' order: limits.conf, then limits.d sorted."""
        dropins = sorted(name for name in self.files if name.startswith(LIMITS_D + "/") and name != without)
        return [self.text(name) or "" for name in (LIMITS_CONF, *dropins)]

    @property
    def login_has_pam_limits(self) -> bool:
        return any(has_pam_limits(self.text(f"etc/pam.d/{s}") or "") for s in LOGIN_PAM)

    @property
    def snapshot(self) -> dict | None:
        text = self.text(SNAPSHOT)
        if text is None:
            return None
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if not (isinstance(data, dict) and data.get("version") == 1 and isinstance(data.get("whole_machine", False), bool)
                and set(data.get("sysctl", {})) <= set(KEYS) and set(data.get("files", {})) <= set(TARGETS)
                and all(_well_formed(name, value) for name, value in data.get("sysctl", {}).items())):
            raise BenchError(f"{self.root}/{SNAPSHOT} is not a tune snapshot; move it away and check the host by hand")
        return data


def _well_formed(name: str, value) -> bool:
    try:
        return isinstance(value, str) and parse_value(KEYS[name], value, "snapshot") == value
    except BenchError:
        return False


_PROBE = r"""PATH="$PATH:/usr/sbin:/sbin"
k() { p=/proc/sys/$2; if [ -e "$p" ]; then printf 'S\t%s\t%s\t%s\n' "$1" "$(stat -c %a "$p")" "$(tr '\t\n' '  ' < "$p" 2>/dev/null)"; else printf 'S\t%s\t-\t\n' "$1"; fi; }
f() { if [ -L "$2" ]; then t=symlink; elif [ -f "$2" ]; then t=file; elif [ -e "$2" ]; then t=other; else t=absent; fi
  printf 'F\t%s\t%s\t%s\t' "$1" "$t" "$(realpath -m -- "$2")"; if [ $t = file ]; then base64 -w0 < "$2" || printf '!'; fi; echo; }
printf 'R\t%s\n' "$(realpath -m -- "$R")"
printf 'N\t%s\n' "$(ip netns identify 2>/dev/null)"
printf 'P\t%s\t%s\n' "$(readlink /proc/self/ns/net 2>/dev/null)" "$(readlink /proc/1/ns/net 2>/dev/null)"
printf 'C\t%s\n' "$(for m in /.dockerenv /run/.containerenv; do [ -e $m ] && echo $m && break; done)"
printf 'Q\t%s\t%s\t%s\n' "$(readlink /proc/self/ns/user)" "$(readlink /proc/self/ns/pid)" "$(tr -s ' \n' '  ' < /proc/self/uid_map)"
printf 'M\t%s\n' "$(awk '$2 == "/proc/sys" {o = $4} END {print o}' /proc/self/mounts)"
printf 'U\t%s\t%s\t%s\n' "$(id -un)" "$(id -u)" "$(id -Gn)"
printf 'L\t%s\t%s\n' "$(ulimit -Sn)" "$(ulimit -Hn)"
printf 'K\t%s\t%s\n' "$(sed -n 's/^MemTotal:[[:space:]]*\([0-9]*\) kB$/\1/p' /proc/meminfo)" "$(getconf PAGESIZE)"
for x in "$R"/etc/security/limits.d/*.conf; do if [ -e "$x" ] || [ -L "$x" ]; then f "etc/security/limits.d/${x##*/}" "$x"; fi; done
"""


def probe_script(root: str) -> str:
    """The shell script that prints a host's state, one tagged line per fact."""
    lines = [f"R={shlex.quote(root)}", _PROBE]
    lines += [f"k {name} {name.replace('.', '/')}" for name in dict.fromkeys((*INTEREST, *KEYS))]
    lines += [f'f {relative} "$R"/{relative}' for relative in FIXED_FILES]
    return "\n".join(lines) + "\n"


def parse_probe(output: str, whole_machine: bool = False) -> ProbedState:
    """Turn the probe's tagged lines into a :class:`ProbedState` (pure); ``whole_machine``: the user says
    the machine is theirs, now or when the host's snapshot was taken, which overrules signs of a
    container (never a namespace seen)."""
    facts: dict[str, list[str]] = {}
    sysctls: dict[str, Sysctl] = {}
    found: list[list[str]] = []
    for line in output.splitlines():
        tag, _, rest = line.partition("\t")
        fields = rest.split("\t")
        if tag == "S":
            name, mode, value = (fields + ["", ""])[:3]
            writable = mode.isdigit() and int(mode, 8) & 0o222 != 0
            sysctls[name] = Sysctl(None, False) if mode == "-" else Sysctl(" ".join(value.split()), writable)
        elif tag == "F":
            found.append(fields)
        elif tag:
            facts[tag] = fields
    root = facts["R"][0]
    if "ro" in facts.get("M", [""])[0].split(","):
        sysctls = {name: Sysctl(s.value, False) for name, s in sysctls.items()}
    files = {relative: _file(root, relative, kind, real, data) for relative, kind, real, data in found}
    user, uid, groups = facts["U"]
    soft, hard = (_rlimit(v) for v in facts["L"])
    memory, page = (facts.get("K", []) + ["", ""])[:2]
    confined, guessed = _confinement(facts, sysctls)
    if guessed and (whole_machine or _said_whole_machine(files.get(SNAPSHOT))):
        confined, guessed = None, False
    return ProbedState(
        root=root, sysctls=sysctls, files=files, confined=confined, guessed=guessed,
        user=user, uid=int(uid), groups=tuple(groups.split()), nofile_now=(soft, hard),
        memory_kb=int(memory) if memory.isdigit() else None, page_size=int(page) if page.isdigit() else 4096,
    )


def _file(root: str, relative: str, kind: str, real: str, data: str) -> File:
    where = f"{root.rstrip('/')}/{relative}"
    if kind == "absent":
        text = None
    elif kind != "file":
        return File(None, f"{where} is a {kind}, not a regular file; tune writes only plain files under the root")
    elif data.endswith("!"):
        return File(None, f"{where} cannot be read; check its permissions")
    else:
        try:
            text = base64.b64decode(data).decode()
        except UnicodeDecodeError as exc:
            if relative not in TARGETS:  # read for its nofile lines only: the rest of its bytes do not matter
                text = base64.b64decode(data).decode("utf-8", "replace")
            else:
                return File(None, f"{where} is not UTF-8 (byte {exc.start}); tune rewrites only UTF-8 files: "
                                  f"convert it (iconv -t UTF-8) or edit it by hand")
    if real != where:
        return File(text, f"{where} resolves to {real} through a symlink; tune writes only under the root")
    return File(text)


def _said_whole_machine(snapshot: File | None) -> bool:
    """Whether the apply that took the host's snapshot was told the machine is the user's: what it set,
    later checks see as set, and revert restores."""
    try:
        return json.loads(snapshot.text).get("whole_machine") is True
    except (AttributeError, TypeError, ValueError):  # no snapshot, or not one: ProbedState.snapshot says so
        return False


def _rlimit(text: str) -> int:
    return 2**63 if text == "unlimited" else int(text)


def _confinement(facts: dict[str, list[str]], sysctls: dict[str, Sysctl]) -> tuple[str | None, bool]:
    """Where the host's shell runs, when that is not a machine of its own; and whether that is only a guess.

    Evidence first. ``ip netns identify`` names a namespace made with ``ip netns``; a net
    namespace that differs from pid 1's is one too; only the initial namespace has
    net.core.netdev_max_backlog, which catches namespaces whose pid 1 we cannot read; a user
    namespace other than the first one (or a uid map that is not the whole range) cannot write
    the machine's keys. A pid namespace of its own, or a container's marker file, are signs of
    a container: /proc/sys may then be the machine's, or the marker may be a leftover of the
    image the machine was built from, which only the user can tell.
    """
    name = facts.get("N", [""])[0]
    own, first = (facts.get("P", []) + ["", ""])[:2]
    user, pid, uid_map = (facts.get("Q", []) + ["", "", ""])[:3]
    if name:
        return f"network namespace {name}", False
    if own and first and own != first:
        return "a network namespace", False
    if (user and user != FIRST_USER_NAMESPACE) or (uid_map.strip() and " ".join(uid_map.split()) != WHOLE_UID_MAP):
        return "a user namespace", False
    if sysctls.get("net.core.somaxconn", Sysctl(None, False)).value and not sysctls.get(
            "net.core.netdev_max_backlog", Sysctl(None, False)).value:
        return "a network namespace", False
    if pid and pid != FIRST_PID_NAMESPACE:
        return "a container (a pid namespace of its own)", True
    marker = facts.get("C", [""])[0]
    if marker:
        first_namespaces = ", though this shell is in the machine's first pid and user namespaces" if pid and user else ""
        return f"a container ({marker} says so{first_namespaces})", True
    return None, False


def read_state(host: Host, root: str = "/", whole_machine: bool = False) -> ProbedState:
    """Read everything tune needs from ``host`` in one command (no privileges needed); ``whole_machine``:
    the user says the machine is theirs (see :func:`parse_probe`)."""
    return parse_probe(host.run(probe_script(root)).stdout, whole_machine)
