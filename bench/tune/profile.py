"""Tuning profiles as data: the folders under ``sysconf/``, parsed and validated.

A profile is a folder holding files a sysadmin recognizes::

    sysctl.conf                          lines as for /etc/sysctl.d/  (key = value)
    limits.conf                          lines as for /etc/security/limits.d/  (nofile only)
    pam.d/common-session                 session lines to ensure in /etc/pam.d/<same name>
    pam.d/common-session-noninteractive

Any of them may be left out; nothing else may be there. Keys come from an allow-list
(:data:`~.keys.KEYS`), PAM lines may only name ``pam_limits.so``, and every value is checked
before a host is touched. Everything here is pure except :func:`load_profile`, which
reads the folder.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchError

from .keys import KEYS, NUMBER, Key, check_bounds, parse_value

SYSCONF = Path(__file__).resolve().parents[2] / "sysconf"

PAM_SERVICES = ("common-session", "common-session-noninteractive")
PROFILE_FILES = ("sysctl.conf", "limits.conf") + tuple(f"pam.d/{name}" for name in PAM_SERVICES)
LIMIT_DOMAIN = re.compile(r"\*|@?[a-z_][a-z0-9_.-]{0,31}")
LIMIT_TYPES = ("soft", "hard", "-")
PROFILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_PAM_CONTROLS = ("required", "requisite", "optional")


@dataclass(frozen=True)
class SysctlSetting:
    """``key = value`` from a profile; ``value`` as the kernel prints it, one space apart."""

    key: Key
    value: str
    source: str  # file:line, for messages


@dataclass(frozen=True)
class LimitLine:
    """``<domain> <type> nofile <value>`` from limits.conf."""

    domain: str
    type: str
    item: str
    value: int
    source: str

    def render(self) -> str:
        return f"{self.domain:<15} {self.type:<8} {self.item:<15} {self.value}"


@dataclass(frozen=True)
class PamLine:
    """A session line that must be in ``/etc/pam.d/<service>``."""

    service: str
    text: str
    source: str


@dataclass(frozen=True)
class Profile:
    """A tuning profile: sysctl values, nofile limits and PAM session lines."""

    name: str
    sysctls: tuple[SysctlSetting, ...] = ()
    limits: tuple[LimitLine, ...] = ()
    pam: tuple[PamLine, ...] = ()

    def setting(self, key: str) -> SysctlSetting | None:
        return next((s for s in self.sysctls if s.key.name == key), None)



# -- profile files -----------------------------------------------------------------

def parse_sysctl_conf(text: str, source: str) -> tuple[SysctlSetting, ...]:
    """``key = value`` lines (sysctl.d(5)); ``#`` and ``;`` start comments."""
    settings: dict[str, SysctlSetting] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        where = f"{source}:{number}"
        if not line or line[0] in "#;":
            continue
        name, equals, value = line.partition("=")
        name = name.strip()
        if not equals or not value.strip():
            raise BenchError(f"{where}: expected `key = value`, got {raw.strip()!r}; fix the line")
        if name.startswith("-"):
            raise BenchError(f"{where}: the `-` prefix (ignore failures) is not supported, tune reports every key it cannot set; remove it")
        key = KEYS.get(name)
        if key is None:
            raise BenchError(f"{where}: {name!r} is not a key tune may set; allowed: {', '.join(KEYS)}")
        if name in settings:
            raise BenchError(f"{where}: {name} is set twice (first at {settings[name].source}); keep one line")
        settings[name] = SysctlSetting(key, parse_value(key, value, where), where)
        check_bounds(key, settings[name].value, where)
    return tuple(settings.values())


def parse_limits_conf(text: str, source: str) -> tuple[LimitLine, ...]:
    """A profile's limits.conf: ``<domain> <soft|hard|-> nofile <number>`` lines only."""
    lines = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        where = f"{source}:{number}"
        if not line:
            continue
        fields = line.split()
        if len(fields) != 4:
            raise BenchError(f"{where}: expected `<domain> <type> <item> <value>`, got {raw.strip()!r}; fix the line")
        domain, kind, item, value = fields
        if not LIMIT_DOMAIN.fullmatch(domain):
            raise BenchError(f"{where}: bad domain {domain!r}: use *, a user name or @group")
        if kind not in LIMIT_TYPES:
            raise BenchError(f"{where}: bad type {kind!r}: use soft, hard or -")
        if item != "nofile":
            raise BenchError(f"{where}: item {item!r} is not one tune sets; only nofile is allowed")
        if not NUMBER.fullmatch(value) or not 0 < int(value) < 2**63:
            raise BenchError(f"{where}: nofile takes a positive number, got {value!r}; fix the line")
        lines.append(LimitLine(domain, kind, item, int(value), where))
    for identity in ({"user": "root", "uid": 0}, {"user": None, "uid": None}):
        soft, hard = _ranked_nofile([lines], groups=(), nr_open=2**63, **identity)
        if soft is not None and hard is not None and soft > hard:
            who = identity["user"] or "other users"
            raise BenchError(f"{source}: nofile soft {soft} is above hard {hard} for {who}; make soft <= hard")
    return tuple(lines)


def parse_pam_lines(text: str, service: str, source: str) -> tuple[PamLine, ...]:
    """``session <required|requisite|optional> pam_limits.so`` lines, nothing else."""
    lines = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        where = f"{source}:{number}"
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) != 3 or fields[0] != "session" or fields[1] not in _PAM_CONTROLS or fields[2] != "pam_limits.so":
            raise BenchError(f"{where}: only `session required pam_limits.so` (or requisite/optional, no arguments) is allowed, got {line!r}")
        lines.append(PamLine(service, " ".join(fields), where))
    return tuple(lines)


def has_pam_limits(text: str) -> bool:
    """Whether a PAM file has an active session line for pam_limits."""
    for raw in text.splitlines():
        fields = raw.split("#", 1)[0].split()
        if len(fields) >= 3 and fields[0].lstrip("-") == "session" and _pam_module(fields) == "pam_limits.so":
            return True
    return False


def _pam_module(fields: list[str]) -> str:
    """The module of a PAM line, past a bracketed control like ``[default=1 success=ok]``."""
    rest = fields[1:]
    if rest[0].startswith("["):
        while rest and not rest[0].endswith("]"):
            rest = rest[1:]
    return rest[1].rsplit("/", 1)[-1] if len(rest) > 1 else ""


def load_profile(name: str, sysconf: str | Path = SYSCONF) -> Profile:
    """Read and validate the profile folder ``sysconf/name``; touch nothing else."""
    if not PROFILE_NAME.fullmatch(name):
        raise BenchError(f"bad profile name {name!r}: a profile is a folder name under {sysconf} (letters, digits, . _ -)")
    folder = Path(sysconf) / name
    if not folder.is_dir():
        known = sorted(p.name for p in Path(sysconf).iterdir() if p.is_dir()) if Path(sysconf).is_dir() else []
        raise BenchError(f"no profile {name!r} in {sysconf}; known: {', '.join(known) or 'none'}")
    found = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if path.is_symlink():
            raise BenchError(f"{path}: profiles hold plain files, not symlinks; copy the file in")
        if path.is_dir() and relative == "pam.d" or relative == "README.md":
            continue
        if relative not in PROFILE_FILES:
            raise BenchError(f"{path}: not a profile file; a profile holds only {', '.join(PROFILE_FILES)} (and README.md)")
        found[relative] = path.read_text()
    if not found:
        raise BenchError(f"profile {folder} is empty; add at least one of {', '.join(PROFILE_FILES)}")
    source = f"{Path(sysconf).name}/{name}"
    pam = tuple(
        line
        for service in PAM_SERVICES if f"pam.d/{service}" in found
        for line in parse_pam_lines(found[f"pam.d/{service}"], service, f"{source}/pam.d/{service}")
    )
    return Profile(
        name=name,
        sysctls=parse_sysctl_conf(found.get("sysctl.conf", ""), f"{source}/sysctl.conf"),
        limits=parse_limits_conf(found.get("limits.conf", ""), f"{source}/limits.conf"),
        pam=pam,
    )


# -- what pam_limits gives a new session ------------------------------------------------

def parse_nofile(text: str, nr_open: int) -> list[tuple[str, str, int]]:
    """(domain, type, value) of every nofile line in a host's limits file, as pam_limits reads it.

    ``unlimited``/``infinity``/``-1`` mean fs.nr_open, as pam_limits maps them.
    """
    entries = []
    for raw in text.splitlines():
        fields = raw.split("#", 1)[0].split()
        if len(fields) != 4 or fields[2].lower() != "nofile" or fields[1].lower() not in LIMIT_TYPES:
            continue
        value = fields[3].lower()
        if value in ("unlimited", "infinity", "-1", "-"):
            entries.append((fields[0], fields[1].lower(), nr_open))
        elif value.isdigit():
            entries.append((fields[0], fields[1].lower(), int(value)))
    return entries


def session_nofile(files: list, user: str | None, uid: int | None, groups: tuple[str, ...] | list[str],
                   nr_open: int) -> tuple[int | None, int | None]:
    """(soft, hard) nofile that pam_limits sets for a new session of ``user``; None: inherited.

    ``files`` are the limits files in pam_limits' order (limits.conf, then limits.d/*.conf
    sorted): each a text or a sequence of :class:`LimitLine`. Like pam_limits, a user's own
    line beats a group line beats ``*``, and a later line of the same rank wins. As
    Debian's limits.conf(5) says, ``*`` and groups do not apply to root. ``user=None`` is
    any other user: one with no line and no group of its own. A soft limit above the
    hard one is cut to it, as pam_limits does.
    """
    soft, hard = _ranked_nofile(files, user, uid, groups, nr_open)
    if soft is not None and hard is not None:
        soft = min(soft, hard)
    return soft, hard


def _ranked_nofile(files, user, uid, groups, nr_open) -> tuple[int | None, int | None]:
    rank = {"soft": 9, "hard": 9}
    found: dict[str, int | None] = {"soft": None, "hard": None}
    for entries in files:
        if isinstance(entries, str):
            entries = parse_nofile(entries, nr_open)
        else:
            entries = [(line.domain, line.type, line.value) for line in entries]
        for domain, kind, value in entries:
            level = _domain_rank(domain, user, uid, groups)
            if level is None:
                continue
            for which in (("soft", "hard") if kind == "-" else (kind,)):
                if level <= rank[which]:
                    rank[which], found[which] = level, value
    return found["soft"], found["hard"]


def _domain_rank(domain: str, user: str | None, uid: int | None, groups) -> int | None:
    """How specific a matching domain is (0 user, 1 group, 4 ``*``), or None when it does not match."""
    if user is not None and domain == user:
        return 0
    if uid == 0:
        return None
    if domain == "*":
        return 4
    if domain.startswith("@") and domain[1:] in groups:
        return 1
    low, colon, high = domain.partition(":")
    if colon and uid is not None and not domain.startswith(("@", "%")):
        try:
            if (int(low) if low else int(high)) <= uid <= (int(high) if high else 2**32):
                return 0
        except ValueError:
            return None
    return None
