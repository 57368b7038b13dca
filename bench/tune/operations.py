"""The settings tune changes, one :class:`Operation` per kind, and how they are written.

After pyperf's ``_system.py``: one operation per kind of setting (:class:`SysctlKey`,
:class:`SysctlDropIn`, :class:`NofileLimit`, :class:`PamLimitsLine`), in an ordered
list. Improved on it: revert restores the snapshot taken before the first change
(:class:`RestoreFile`, :func:`restoring`) instead of writing fixed values. Values are
set with ``sysctl -w`` and files written with sudo, atomically, through a
:class:`~bench.hosts.Host`.
"""
from __future__ import annotations

import base64
import posixpath
import shlex

from bench.errors import BenchError
from bench.hosts import Host

from .keys import KEYS, WIDEN, Key, lowers, memory_ceiling, raises
from .profile import Profile, has_pam_limits, session_nofile
from .state import LIMITS_DROPIN, SYSCTL_DROPIN, ProbedState

HEADER = "# Written by `inv tune` (profile {}); `inv tune --revert` restores what was here.\n"


# -- writing, always as root and atomically ---------------------------------------------------

def write_file(host: Host, path: str, text: str) -> None:
    """Write ``text`` to ``path`` as root, atomically, never through a planted symlink.

    The temporary file is a fresh name made by ``mktemp`` (O_CREAT|O_EXCL: nothing already
    at that name is followed), synced, and renamed over ``path`` (a rename replaces a
    symlink instead of following it); then the folder is synced, so the rename lasts a crash.
    """
    folder, name = posixpath.split(path)
    target, tmp = shlex.quote(path), shlex.quote(f"{folder}/.{name}.tune-XXXXXX")
    data = base64.b64encode(text.encode()).decode()
    host.sudo(f"mkdir -p {shlex.quote(folder)} && t=$(mktemp {tmp}) && {{ printf %s {data} | base64 -d > \"$t\""
              f" && {{ chmod --reference={target} \"$t\" 2>/dev/null || chmod 644 \"$t\"; }}"
              f" && sync \"$t\" && mv -f \"$t\" {target} && sync {shlex.quote(folder)}"
              f" || {{ rm -f \"$t\"; exit 1; }}; }}")


def remove_file(host: Host, path: str) -> None:
    """Remove ``path`` as root and sync its folder, so the removal lasts a crash too."""
    folder = shlex.quote(posixpath.dirname(path))
    host.sudo(f"rm -f {shlex.quote(path)} && {{ [ ! -d {folder} ] || sync {folder}; }}")


# -- operations --------------------------------------------------------------------------------

class Operation:
    """One setting on a host: read it, plan the change, apply, verify; revert via the snapshot."""

    name: str
    failed: str | None = None

    def current(self, state: ProbedState) -> str | None:
        raise NotImplementedError

    def wanted(self, state: ProbedState) -> str | None:
        raise NotImplementedError

    def problems(self, state: ProbedState) -> list[str]:
        """Why the profile must not be applied to this host at all (validation)."""
        return []

    def skip(self, state: ProbedState) -> str | None:
        """Why this one setting cannot be set here; the rest still is."""
        return None

    def kept(self, state: ProbedState) -> str | None:
        """Why this setting is left as it is although it differs from the profile."""
        return None

    def changes(self, state: ProbedState) -> bool:
        return self.skip(state) is None and self.current(state) != self.wanted(state)

    def save(self, state: ProbedState, snapshot: dict) -> None:
        """Record the value before the first change; a later apply keeps it."""
        raise NotImplementedError

    def apply(self, host: Host, state: ProbedState) -> None:
        raise NotImplementedError

    def verify(self, state: ProbedState) -> bool:
        return self.current(state) == self.wanted(state)


class SysctlKey(Operation):
    """A live kernel value, set with ``sysctl -w``."""

    def __init__(self, key: Key, value: str, source: str, restoring: bool = False):
        self.key, self.value, self.source, self.restoring = key, value, source, restoring
        self.name = key.name

    def current(self, state):
        return state.value(self.name)

    def wanted(self, state):
        return self.current(state) if self.kept(state) else self.value

    def kept(self, state):
        """A raise-only key the host already has more of than the profile asks stays as it is."""
        now = self.current(state)
        if self.restoring or self.skip(state) or now is None:
            return None
        if lowers(self.key, now, self.value) and not raises(self.key, now, self.value):
            return "already wider, kept" if self.key.only == WIDEN else "already higher, kept"
        return None

    def problems(self, state):
        if self.restoring or self.skip(state):
            return []
        found = self._above_memory(state)
        now = self.current(state)
        if not lowers(self.key, now, self.value) or self.kept(state):
            return found
        way = "narrow" if self.key.only == WIDEN else "lower"
        return found + [f"{self.source}: {self.name} = {self.value} would {way} this host's {now} in part while it "
                        f"{self.key.only}s the rest; the profile may only {self.key.only} it, number by number: "
                        f"change the value or delete the line"]

    def _above_memory(self, state) -> list[str]:
        """A value that stands for more of this host's memory than its ceiling allows."""
        if state.memory_kb is None:
            most = memory_ceiling(self.key, 0, state.page_size)
            return [] if most is None else [f"{self.source}: {self.name} is bounded by the host's RAM, and its "
                                            f"MemTotal cannot be read; set it by hand or delete the line"]
        most = memory_ceiling(self.key, state.memory_kb, state.page_size)
        if most is None or all(int(n) <= most for n in self.value.split()):
            return []
        return [f"{self.source}: {self.name} = {self.value} is above {most} on this host of "
                f"{state.memory_kb / 2**20:.1f} GiB ({self.key.ceiling.why}); lower it"]

    def skip(self, state):
        reading = state.sysctls.get(self.name)
        if reading is None or reading.value is None:
            return f"absent in {state.confined}" if state.confined else "absent in this kernel"
        if self.key.is_global and state.confined:
            theirs = "; if the machine is yours, pass --whole-machine (tune.whole_machine)" if state.guessed else ""
            return f"global: not set inside {state.confined}, it would change the whole machine{theirs}"
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

    It holds only the keys that could be set here, so a boot never trips on the others,
    and none that was kept because the host already had more (a boot would lower it).
    """

    def __init__(self, profile: Profile, keys: list[SysctlKey]):
        super().__init__(SYSCTL_DROPIN)
        self.profile, self.keys = profile, keys

    def wanted(self, state):
        lines = [f"{op.name} = {op.value}\n" for op in self.keys
                 if not op.skip(state) and not op.kept(state) and not op.failed]
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
        below: dict[tuple[str, int, int], list[str]] = {}  # (soft|hard, profile's, live) -> who
        for label, identity in identities(state):
            soft, hard = session_nofile([self.profile.limits], nr_open=nr_open, **identity)
            now = session_nofile(others, nr_open=nr_open, **identity)
            for kind, new, old, live in (("soft", soft, now[0], state.nofile_now[0]),
                                         ("hard", hard, now[1], state.nofile_now[1])):
                if new is not None and old is not None and new < old:
                    found.append(f"limits.conf: nofile {kind} {new} for {label} would lower the {old} "
                                 f"already set in {state.root}/etc/security; raise the value or delete the line")
                elif new is not None and new < live:
                    below.setdefault((kind, new, live), []).append(label)
            if hard is not None and hard > nr_open:
                found.append(f"limits.conf: nofile hard {hard} for {label} is above fs.nr_open {nr_open}, so logins "
                             f"would fail; raise fs.nr_open in sysctl.conf or lower the limit")
        # The live limit (this probe's `ulimit -n`) is what sessions here run with now, whatever
        # the limits files say; a new login must not get less.
        found += [f"limits.conf: nofile {kind} {new} for {' and '.join(labels)} is below the live limit {live} "
                  f"({state.user}'s session on this host); never set a limit below the live one: "
                  f"raise the value or delete the line" for (kind, new, live), labels in below.items()]
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


def identities(state: ProbedState) -> list[tuple[str, dict]]:
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
