"""What an action found or did on one host (:class:`Outcome`), and the check table's rows.

Messages are gathered here and rendered apart from the logic (:mod:`.render`); the
exit codes say tuned, error, or tuned only in part.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .operations import (
    NofileLimit,
    Operation,
    PamLimitsLine,
    SysctlDropIn,
    identities,
    operations,
)
from .keys import INTEREST
from .profile import Profile, has_pam_limits, session_nofile
from .state import ProbedState

EXIT_TUNED, EXIT_ERROR, EXIT_PARTIAL = 0, 1, 2


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
    kept: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    code: int = EXIT_TUNED
    summary: str = ""


def check_rows(profile: Profile, state: ProbedState) -> list[Row]:
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
            rows.append(_row(op, state, shown, op.value))
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


def _row(op: Operation, state: ProbedState, current: str, profile: str, setting: str | None = None) -> Row:
    problems = op.problems(state)
    reason = op.skip(state)
    if problems:
        status = "invalid"
    elif reason:
        status = "cannot set"
    elif op.kept(state):
        return Row(setting or op.name, current, profile or "absent", op.kept(state), True)
    else:
        status = "tuned" if not op.changes(state) else "NOT TUNED"
    return Row(setting or op.name, current, profile or "absent", status, status == "tuned")


def _file_state(current: str | None, wanted: str | None) -> str:
    if current == wanted:
        return "as profile"
    return "absent" if current is None else "other content"


def _settings(text: str | None) -> list[str]:
    return [line for line in (text or "").splitlines() if line and not line.startswith("#")]


def _nofile_rows(profile: Profile, state: ProbedState) -> list[Row]:
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
