"""Tune a host to a profile, transactionally: check, plan, snapshot, apply, verify, revert.

After pyperf's ``_system.py``: one :class:`Operation` per kind of setting
(:class:`SysctlKey`, :class:`SysctlDropIn`, :class:`NofileLimit`, :class:`PamLimitsLine`),
in an ordered list, and messages gathered in an :class:`Outcome` that is rendered apart
from the logic. Improved on it: revert restores the snapshot taken before the first
change instead of writing fixed values, and every file lives under ``root`` so tests
point it at a folder of their own.

Everything goes through a :class:`~bench.hosts.Host`: one probe command reads the whole
state (sysctls from ``/proc/sys``, files as base64, who and where we are), values are
set with ``sysctl -w`` and files written with sudo, atomically. It works alike on this
machine, in a network namespace and over SSH.

Live values are real even when ``root`` is a test folder: ``root`` moves files only.
Inside a network namespace or a container only ``net.*`` keys belong to the target;
the others (``fs.*``) are the whole machine's, so they are reported and left alone.
"""
from __future__ import annotations

import base64
import difflib
import json
import shlex
from dataclasses import dataclass, field

from bench.errors import BenchError
from bench.hosts import Host

from .profile import (
    INTEREST,
    KEYS,
    PAM_SERVICES,
    Key,
    Profile,
    has_pam_limits,
    lowers,
    parse_value,
    session_nofile,
)

SYSCTL_DROPIN = "etc/sysctl.d/99-twisted-lab.conf"
LIMITS_CONF = "etc/security/limits.conf"
LIMITS_D = "etc/security/limits.d"
LIMITS_DROPIN = f"{LIMITS_D}/99-twisted-lab.conf"
SNAPSHOT = "var/lib/twisted-lab/tune-snapshot.json"
# A login gets the limits files only if pam_limits is in its session stack.
LOGIN_PAM = PAM_SERVICES + ("sshd",)
FIXED_FILES = (SYSCTL_DROPIN, LIMITS_CONF, SNAPSHOT) + tuple(f"etc/pam.d/{s}" for s in LOGIN_PAM)
# The only files tune ever writes (besides its snapshot), so the only ones a revert may.
TARGETS = (SYSCTL_DROPIN, LIMITS_DROPIN) + tuple(f"etc/pam.d/{s}" for s in PAM_SERVICES)

EXIT_TUNED, EXIT_ERROR, EXIT_PARTIAL = 0, 1, 2
HEADER = "# Written by `inv tune` (profile {}); `inv tune --revert` restores what was here.\n"


# -- the host's state ----------------------------------------------------------------

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
class HostState:
    """Everything tune reads from a host, in one probe."""

    root: str
    sysctls: dict[str, Sysctl]
    files: dict[str, File]
    confined: str | None  # e.g. "network namespace lab-1"; None on a machine of its own
    user: str
    uid: int
    groups: tuple[str, ...]
    nofile_now: tuple[int, int]

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
        if not (isinstance(data, dict) and data.get("version") == 1
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
printf 'C\t%s\n' "$(if [ -e /.dockerenv ] || [ -e /run/.containerenv ]; then echo container; fi)"
printf 'M\t%s\n' "$(awk '$2 == "/proc/sys" {o = $4} END {print o}' /proc/self/mounts)"
printf 'U\t%s\t%s\t%s\n' "$(id -un)" "$(id -u)" "$(id -Gn)"
printf 'L\t%s\t%s\n' "$(ulimit -Sn)" "$(ulimit -Hn)"
for x in "$R"/etc/security/limits.d/*.conf; do if [ -e "$x" ] || [ -L "$x" ]; then f "etc/security/limits.d/${x##*/}" "$x"; fi; done
"""


def probe_script(root: str) -> str:
    """The shell script that prints a host's state, one tagged line per fact."""
    lines = [f"R={shlex.quote(root)}", _PROBE]
    lines += [f"k {name} {name.replace('.', '/')}" for name in dict.fromkeys((*INTEREST, *KEYS))]
    lines += [f'f {relative} "$R"/{relative}' for relative in FIXED_FILES]
    return "\n".join(lines) + "\n"


def parse_probe(output: str) -> HostState:
    """Turn the probe's tagged lines into a :class:`HostState` (pure)."""
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
    return HostState(
        root=root, sysctls=sysctls, files=files, confined=_confinement(facts, sysctls),
        user=user, uid=int(uid), groups=tuple(groups.split()), nofile_now=(soft, hard),
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
        text = base64.b64decode(data).decode()
    if real != where:
        return File(text, f"{where} resolves to {real} through a symlink; tune writes only under the root")
    return File(text)


def _rlimit(text: str) -> int:
    return 2**63 if text == "unlimited" else int(text)


def _confinement(facts: dict[str, list[str]], sysctls: dict[str, Sysctl]) -> str | None:
    """Where the host's shell runs, when that is not a machine of its own.

    ``ip netns identify`` names a namespace made with ``ip netns``; a net namespace that
    differs from pid 1's is one too; and only the initial namespace has
    net.core.netdev_max_backlog, which catches namespaces whose pid 1 we cannot read.
    """
    name = facts.get("N", [""])[0]
    own, first = (facts.get("P", []) + ["", ""])[:2]
    if name:
        return f"network namespace {name}"
    if own and first and own != first:
        return "a network namespace"
    if facts.get("C", [""])[0]:
        return "a container"
    if sysctls.get("net.core.somaxconn", Sysctl(None, False)).value and not sysctls.get(
            "net.core.netdev_max_backlog", Sysctl(None, False)).value:
        return "a network namespace"
    return None


def read_state(host: Host, root: str = "/") -> HostState:
    """Read everything tune needs from ``host`` in one command (no privileges needed)."""
    return parse_probe(host.run(probe_script(root)).stdout)


# -- writing, always as root and atomically ---------------------------------------------------

def write_file(host: Host, path: str, text: str) -> None:
    """Write ``text`` to ``path`` as root: a synced temporary file beside it, then a rename."""
    quoted, tmp = shlex.quote(path), shlex.quote(f"{path}.tune-tmp")
    data = base64.b64encode(text.encode()).decode()
    host.sudo(f"mkdir -p {shlex.quote(path.rsplit('/', 1)[0] or '/')} && printf %s {data} | base64 -d > {tmp}"
              f" && {{ chmod --reference={quoted} {tmp} 2>/dev/null || chmod 644 {tmp}; }}"
              f" && sync {tmp} && mv -f {tmp} {quoted}")


def remove_file(host: Host, path: str) -> None:
    host.sudo(f"rm -f {shlex.quote(path)}")


# -- operations --------------------------------------------------------------------------------

class Operation:
    """One setting on a host: read it, plan the change, apply, verify; revert via the snapshot."""

    name: str
    failed: str | None = None

    def current(self, state: HostState) -> str | None:
        raise NotImplementedError

    def wanted(self, state: HostState) -> str | None:
        raise NotImplementedError

    def problems(self, state: HostState) -> list[str]:
        """Why the profile must not be applied to this host at all (validation)."""
        return []

    def skip(self, state: HostState) -> str | None:
        """Why this one setting cannot be set here; the rest still is."""
        return None

    def changes(self, state: HostState) -> bool:
        return self.skip(state) is None and self.current(state) != self.wanted(state)

    def save(self, state: HostState, snapshot: dict) -> None:
        """Record the value before the first change; a later apply keeps it."""
        raise NotImplementedError

    def apply(self, host: Host, state: HostState) -> None:
        raise NotImplementedError

    def verify(self, state: HostState) -> bool:
        return self.current(state) == self.wanted(state)


class SysctlKey(Operation):
    """A live kernel value, set with ``sysctl -w``."""

    def __init__(self, key: Key, value: str, source: str, restoring: bool = False):
        self.key, self.value, self.source, self.restoring = key, value, source, restoring
        self.name = key.name

    def current(self, state):
        return state.value(self.name)

    def wanted(self, state):
        return self.value

    def problems(self, state):
        now = self.current(state)
        if self.restoring or self.skip(state) or now is None or not lowers(self.key, now, self.value):
            return []
        way = "narrow" if self.key.only == "widen" else "lower"
        return [f"{self.source}: {self.name} = {self.value} would {way} this host's {now}; "
                f"the profile may only {self.key.only} it: change the value or delete the line"]

    def skip(self, state):
        reading = state.sysctls.get(self.name)
        if reading is None or reading.value is None:
            return f"absent in {state.confined}" if state.confined else "absent in this kernel"
        if self.key.is_global and state.confined:
            return f"global: not set inside {state.confined}, it would change the whole machine"
        if not reading.writable:
            return "read-only here"
        return None

    def save(self, state, snapshot):
        snapshot["sysctl"].setdefault(self.name, self.current(state))

    def apply(self, host, state):
        result = host.sudo(f'PATH="$PATH:/usr/sbin:/sbin" sysctl -w {shlex.quote(f"{self.name}={self.value}")}', warn=True)
        if not result.ok:
            lines = (result.stderr or result.stdout).strip().splitlines()
            self.failed = lines[-1] if lines else f"sysctl exited {result.exited}"


class FileOperation(Operation):
    """A file under root that tune writes whole (``wanted`` None: the file is absent)."""

    def __init__(self, relative: str):
        self.relative = self.name = relative

    def current(self, state):
        return state.text(self.relative)

    def problems(self, state):
        reading = state.files.get(self.relative)
        return [reading.problem] if reading and reading.problem else []

    def save(self, state, snapshot):
        snapshot["files"].setdefault(self.relative, {"before": self.current(state)})
        snapshot["files"][self.relative]["after"] = self.wanted(state)

    def apply(self, host, state):
        path = f"{state.root.rstrip('/')}/{self.relative}"
        wanted = self.wanted(state)
        try:
            remove_file(host, path) if wanted is None else write_file(host, path, wanted)
        except BenchError as exc:
            self.failed = str(exc)


class SysctlDropIn(FileOperation):
    """/etc/sysctl.d/99-twisted-lab.conf: the keys set live, so they come back after a reboot.

    It holds only the keys that could be set here, so a boot never trips on the others.
    """

    def __init__(self, profile: Profile, keys: list[SysctlKey]):
        super().__init__(SYSCTL_DROPIN)
        self.profile, self.keys = profile, keys

    def wanted(self, state):
        lines = [f"{op.name} = {op.value}\n" for op in self.keys if not op.skip(state) and not op.failed]
        return HEADER.format(self.profile.name) + "".join(lines) if lines else None


class NofileLimit(FileOperation):
    """/etc/security/limits.d/99-twisted-lab.conf: the profile's nofile lines for pam_limits."""

    def __init__(self, profile: Profile):
        super().__init__(LIMITS_DROPIN)
        self.profile = profile

    def wanted(self, state):
        return HEADER.format(self.profile.name) + "".join(line.render() + "\n" for line in self.profile.limits)

    def problems(self, state):
        found = super().problems(state)
        others = state.limits_files(without=LIMITS_DROPIN)
        nr_open = state.nr_open
        setting = self.profile.setting("fs.nr_open")
        if setting and not SysctlKey(setting.key, setting.value, setting.source).skip(state):
            nr_open = max(nr_open, int(setting.value))
        for label, identity in identities(state):
            soft, hard = session_nofile([self.profile.limits], nr_open=nr_open, **identity)
            now = session_nofile(others, nr_open=nr_open, **identity)
            for kind, new, old in (("soft", soft, now[0]), ("hard", hard, now[1])):
                if new is not None and old is not None and new < old:
                    found.append(f"limits.conf: nofile {kind} {new} for {label} would lower the {old} "
                                 f"already set in {state.root}/etc/security; raise the value or delete the line")
            if hard is not None and hard > nr_open:
                found.append(f"limits.conf: nofile hard {hard} for {label} is above fs.nr_open {nr_open}, so logins "
                             f"would fail; raise fs.nr_open in sysctl.conf or lower the limit")
        return found


class PamLimitsLine(FileOperation):
    """``session required pam_limits.so`` at the end of a PAM file, where it is missing."""

    def __init__(self, service: str, line: str):
        super().__init__(f"etc/pam.d/{service}")
        self.line = line

    def wanted(self, state):
        text = self.current(state)
        if text is None or has_pam_limits(text):
            return text
        return text + ("" if text.endswith("\n") or not text else "\n") + self.line + "\n"

    def skip(self, state):
        if self.current(state) is None and not self.problems(state):
            return f"{self.relative} is absent: add `{self.line}` to your PAM session stack by hand"
        return None


class RestoreFile(FileOperation):
    """Revert a file to its text before the first apply, unless someone changed it since."""

    def __init__(self, relative: str, before: str | None, after: str | None):
        super().__init__(relative)
        self.before, self.after = before, after

    def wanted(self, state):
        return self.before

    def skip(self, state):
        if self.current(state) not in (self.before, self.after):
            return "changed since `inv tune`; left as it is, compare it with the snapshot"
        return None


def identities(state: HostState) -> list[tuple[str, dict]]:
    """Who the nofile rows speak for: root, any other user, and the login user."""
    found = [("root", {"user": "root", "uid": 0, "groups": ()}),
             ("other users", {"user": None, "uid": None, "groups": ()})]
    if state.uid != 0:
        found.append((state.user, {"user": state.user, "uid": state.uid, "groups": state.groups}))
    return found


def operations(profile: Profile) -> list[Operation]:
    """The profile as ordered operations: live keys, then the files that make them last."""
    keys = [SysctlKey(s.key, s.value, s.source) for s in profile.sysctls]
    ops: list[Operation] = list(keys)
    if keys:
        ops.append(SysctlDropIn(profile, keys))
    if profile.limits:
        ops.append(NofileLimit(profile))
    ops += [PamLimitsLine(line.service, line.text) for line in profile.pam]
    return ops


def restoring(snapshot: dict) -> list[Operation]:
    """The snapshot as operations that put every value and file back."""
    ops: list[Operation] = [SysctlKey(KEYS[name], value, "snapshot", restoring=True)
                            for name, value in snapshot.get("sysctl", {}).items()]
    ops += [RestoreFile(relative, entry.get("before"), entry.get("after"))
            for relative, entry in snapshot.get("files", {}).items()]
    return ops


# -- outcomes and rows (what gets rendered) ------------------------------------------------------------

@dataclass(frozen=True)
class Row:
    """One line of the check or plan table."""

    setting: str
    current: str
    profile: str
    state: str
    tuned: bool | None  # None: shown for information only


@dataclass
class Outcome:
    """What one action did on one host, gathered for rendering."""

    host: str
    action: str
    where: str
    rows: list[Row] = field(default_factory=list)
    diffs: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    code: int = EXIT_TUNED
    summary: str = ""


def _where(host: Host, state: HostState) -> str:
    place = f", inside {state.confined}: global keys are left alone" if state.confined else ""
    return f"{host.name} (root {state.root}{place})"


def check_rows(profile: Profile, state: HostState) -> list[Row]:
    """The seed's variables of interest, the profile's keys, files and nofile limits:
    current next to profile, tuned or not (pure)."""
    rows = []
    ops = operations(profile)
    by_name = {op.name: op for op in ops}
    for name in dict.fromkeys((*INTEREST, *(s.key.name for s in profile.sysctls))):
        current = state.value(name)
        op = by_name.get(name)
        shown = "absent" if current is None else current
        if op is None:
            rows.append(Row(name, shown, "", "info", None))
        else:
            rows.append(_row(op, state, shown, op.wanted(state)))
    if profile.limits:
        rows += _nofile_rows(profile, state)
    for op in ops:
        if isinstance(op, SysctlDropIn):
            wanted = op.wanted(state)
            rows.append(_row(op, state, _file_state(op.current(state), wanted), f"{len(_settings(wanted))} keys"))
        elif isinstance(op, NofileLimit):
            rows.append(_row(op, state, _file_state(op.current(state), op.wanted(state)), f"{len(profile.limits)} lines"))
        elif isinstance(op, PamLimitsLine):
            present = "present" if has_pam_limits(op.current(state) or "") else "missing"
            rows.append(_row(op, state, "file absent" if op.current(state) is None else present, "present",
                             setting=f"pam_limits in {op.relative}"))
    return rows


def _row(op: Operation, state: HostState, current: str, profile: str, setting: str | None = None) -> Row:
    problems = op.problems(state)
    reason = op.skip(state)
    if problems:
        status = "invalid"
    elif reason:
        status = "cannot set"
    else:
        status = "tuned" if not op.changes(state) else "NOT TUNED"
    return Row(setting or op.name, current, profile or "absent", status, status == "tuned")


def _file_state(current: str | None, wanted: str | None) -> str:
    if current == wanted:
        return "as profile"
    return "absent" if current is None else "other content"


def _settings(text: str | None) -> list[str]:
    return [line for line in (text or "").splitlines() if line and not line.startswith("#")]


def _nofile_rows(profile: Profile, state: HostState) -> list[Row]:
    rows = []
    pam = state.login_has_pam_limits
    for label, identity in identities(state):
        wanted = session_nofile([profile.limits], nr_open=state.nr_open, **identity)
        now = session_nofile(state.limits_files(), nr_open=state.nr_open, **identity)
        shown = _pair(now) if pam else "inherited (no pam_limits in the login stack)"
        tuned = pam and now == wanted
        rows.append(Row(f"nofile, new login as {label}", shown, _pair(wanted), "tuned" if tuned else "NOT TUNED", tuned))
    soft, hard = state.nofile_now
    wanted = session_nofile([profile.limits], nr_open=state.nr_open, user=state.user, uid=state.uid, groups=state.groups)
    low = any(w is not None and n < w for n, w in zip((soft, hard), wanted))
    rows.append(Row(f"nofile, this session ({state.user})", _pair((soft, hard)), _pair(wanted),
                    "info: lower; a new login gets the profile's" if low else "info", None))
    return rows


def _pair(values: tuple[int | None, int | None]) -> str:
    if values == (None, None):
        return "inherited"
    return " ".join("inherited" if v is None else str(v) for v in values)


# -- the four actions ---------------------------------------------------------------------------

def check(host: Host, profile: Profile, root: str = "/") -> Outcome:
    """``inv tune --check``: every row, and exit 0 only when everything in the profile is in place."""
    state = read_state(host, root)
    rows = check_rows(profile, state)
    outcome = Outcome(host.name, "check", _where(host, state), rows=rows)
    _explain(outcome, operations(profile), state)
    untuned = [row for row in rows if row.tuned is False]
    outcome.code = EXIT_PARTIAL if untuned else EXIT_TUNED
    counted = sum(row.tuned is not None for row in rows)
    unsettable = sum(row.state == "cannot set" for row in untuned)
    outcome.summary = (f"NOT TUNED: {len(untuned)} of {counted} settings are not as in profile {profile.name}"
                       + (f"; {unsettable} of them cannot be set here" if unsettable else "")
                       if untuned else f"tuned: all {counted} settings are as in profile {profile.name}")
    return outcome


def _explain(outcome: Outcome, ops: list[Operation], state: HostState) -> None:
    """List why settings cannot be set here and why the profile does not fit this host."""
    outcome.errors = [problem for op in ops for problem in op.problems(state)]
    outcome.skipped = [f"{op.name}: {op.skip(state)}" for op in ops if op.skip(state)]


def tuning_state(host: Host, profile: Profile, root: str = "/") -> dict[str, dict]:
    """For the report: setting -> {"current", "profile", "tuned", "state"}.

    ``tuned`` is True/False for what the profile sets and None for rows shown for
    information (the seed's other variables of interest, this session's limit). A host
    is tuned when no entry has ``tuned`` False.
    """
    return {row.setting: {"current": row.current, "profile": row.profile or None, "tuned": row.tuned,
                          "state": row.state}
            for row in check_rows(profile, read_state(host, root))}


def plan(host: Host, profile: Profile, root: str = "/") -> Outcome:
    """``inv tune --dry-run``: the sysctl table and the file diffs; changes nothing."""
    state = read_state(host, root)
    outcome = Outcome(host.name, "dry-run", _where(host, state))
    ops = operations(profile)
    _explain(outcome, ops, state)
    for op in ops:
        if isinstance(op, SysctlKey):
            action = ("invalid" if op.problems(state) else "cannot set" if op.skip(state)
                      else "change" if op.changes(state) else "unchanged")
            outcome.rows.append(Row(op.name, op.current(state) or "absent", op.value, action, None))
        elif op.changes(state):
            outcome.diffs.append(_diff(op.relative, op.current(state), op.wanted(state)))
    changes = sum(op.changes(state) for op in ops)
    outcome.code = EXIT_ERROR if outcome.errors else EXIT_PARTIAL if outcome.skipped else EXIT_TUNED
    outcome.summary = ("invalid: nothing would be changed" if outcome.errors else
                       f"would change {changes} settings" + (f", {len(outcome.skipped)} cannot be set here" if outcome.skipped else ""))
    return outcome


def _diff(relative: str, before: str | None, after: str | None) -> str:
    lines = difflib.unified_diff(
        (before or "").splitlines(keepends=True), (after or "").splitlines(keepends=True),
        fromfile="/dev/null" if before is None else f"a/{relative}",
        tofile="/dev/null" if after is None else f"b/{relative}",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def apply(host: Host, profile: Profile, root: str = "/") -> Outcome:
    """``inv tune``: validate, snapshot what will change, apply, verify."""
    state = read_state(host, root)
    return _transact(host, root, state, operations(profile), Outcome(host.name, "apply", _where(host, state)))


def revert(host: Host, root: str = "/") -> Outcome:
    """``inv tune --revert``: put back every value and file from the snapshot, then drop it."""
    state = read_state(host, root)
    outcome = Outcome(host.name, "revert", _where(host, state))
    snapshot = state.snapshot
    if snapshot is None:
        outcome.summary = f"nothing to revert: no snapshot at {state.root.rstrip('/')}/{SNAPSHOT}"
        return outcome
    outcome = _transact(host, root, state, restoring(snapshot), outcome)
    if outcome.code == EXIT_TUNED:
        remove_file(host, f"{state.root.rstrip('/')}/{SNAPSHOT}")
        outcome.notes.append(f"snapshot {state.root.rstrip('/')}/{SNAPSHOT} removed")
    return outcome


def _transact(host: Host, root: str, state: HostState, ops: list[Operation], outcome: Outcome) -> Outcome:
    """Validate, record the snapshot, change, re-read, verify: shared by apply and revert."""
    reverting = outcome.action == "revert"
    snapshot_path = f"{state.root.rstrip('/')}/{SNAPSHOT}"
    problems = [problem for op in ops for problem in op.problems(state)]
    try:
        snapshot = state.snapshot
    except BenchError as exc:
        problems.append(str(exc))
    if problems:
        outcome.errors, outcome.code = problems, EXIT_ERROR
        outcome.summary = "nothing changed: fix the profile" + ("" if reverting else " and run again")
        return outcome
    outcome.skipped = [f"{op.name}: {op.skip(state)}" for op in ops if op.skip(state)]
    todo = [op for op in ops if op.changes(state)]
    if not todo:
        outcome.code = EXIT_PARTIAL if outcome.skipped else EXIT_TUNED
        outcome.summary = "nothing to change" + (", some settings cannot be set here" if outcome.skipped else "")
        if not reverting:
            outcome.notes.append("already tuned; the snapshot of the first apply is kept")
        return outcome
    if not reverting:
        snapshot = snapshot or {"version": 1, "sysctl": {}, "files": {}}
        for op in todo:
            op.save(state, snapshot)
        write_file(host, snapshot_path, json.dumps(snapshot, indent=2, sort_keys=True) + "\n")
        outcome.notes.append(f"snapshot in {snapshot_path}")
    for op in todo:
        op.apply(host, state)
    after = read_state(host, root)
    for op in todo:
        if op.failed:
            outcome.skipped.append(f"{op.name}: failed: {op.failed}")
        elif op.verify(after):
            outcome.changed.append(_change_line(op, state, after))
        else:
            outcome.errors.append(f"{op.name}: set, but reads back as {op.current(after)!r} instead of {op.wanted(state)!r}")
    if not reverting:
        _record_after(host, snapshot_path, after, todo)
    outcome.code = EXIT_ERROR if outcome.errors else EXIT_PARTIAL if outcome.skipped else EXIT_TUNED
    verb = "reverted" if reverting else "applied"
    counts = f"{len(outcome.changed)} changed and verified" + (
        f", {len(outcome.skipped)} cannot be set here" if outcome.skipped else "")
    outcome.summary = {EXIT_TUNED: f"{verb}: {counts}", EXIT_PARTIAL: f"{verb} in part: {counts}",
                       EXIT_ERROR: f"{verb}, but {len(outcome.errors)} did not verify; {counts}"}[outcome.code]
    return outcome


def _record_after(host: Host, path: str, after: HostState, todo: list[Operation]) -> None:
    """Make the snapshot name the files as they ended up, so revert recognizes its own work."""
    snapshot = after.snapshot or {}
    files = snapshot.get("files", {})
    stale = [op for op in todo if isinstance(op, FileOperation) and op.relative in files
             and files[op.relative].get("after") != op.current(after)]
    for op in stale:
        files[op.relative]["after"] = op.current(after)
    if stale:
        write_file(host, path, json.dumps(snapshot, indent=2, sort_keys=True) + "\n")


def _change_line(op: Operation, before: HostState, after: HostState) -> str:
    if isinstance(op, SysctlKey):
        return f"{op.name}: {op.current(before) or 'absent'} -> {op.current(after)}"
    old, new = op.current(before), op.current(after)
    verb = "created" if old is None else "removed" if new is None else "updated"
    return f"{before.root.rstrip('/')}/{op.name}: {verb}"


# -- rendering ---------------------------------------------------------------------------------

def format_rows(rows: list[Row], headers=("setting", "current", "profile", "state")) -> list[str]:
    from tabulate import tabulate

    table = [(r.setting, r.current, r.profile, r.state) for r in rows]
    return tabulate(table, headers=headers, tablefmt="simple", disable_numparse=True).splitlines()


def format_outcome(outcome: Outcome) -> list[str]:
    """The lines a user sees for one host: tables, diffs, then changes, skips, errors, notes."""
    lines = [f"== {outcome.action}: {outcome.where}"]
    if outcome.rows:
        headers = ("key", "current", "profile", "plan") if outcome.action == "dry-run" else (
            "setting", "current", "profile", "state")
        lines += format_rows(outcome.rows, headers)
    for diff in outcome.diffs:
        lines += diff.rstrip("\n").splitlines()
    for title, items in (("changed", outcome.changed), ("cannot set", outcome.skipped),
                         ("error", outcome.errors), ("note", outcome.notes)):
        lines += [f"{title}: {item}" for item in items]
    lines.append(f"{outcome.host}: {outcome.summary} (exit {outcome.code})")
    return lines


def exit_code(codes: list[int]) -> int:
    """Several hosts' codes as one: any error wins, then any partial result."""
    return EXIT_ERROR if EXIT_ERROR in codes else EXIT_PARTIAL if EXIT_PARTIAL in codes else EXIT_TUNED
