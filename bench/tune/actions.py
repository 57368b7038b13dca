"""The four actions of ``inv tune``, transactionally: check, preview, apply, revert.

Apply snapshots what it will change before the first change, applies, re-reads and
verifies; revert puts the snapshot back the same way, then drops it. Every file lives
under ``root``, so tests point it at a folder of their own.
"""
from __future__ import annotations

import difflib
import json

from bench.errors import BenchError
from bench.hosts import Host

from .lock import host_lock
from .operations import (
    FileOperation,
    Operation,
    SysctlKey,
    operations,
    remove_file,
    restoring,
    write_file,
)
from .outcomes import EXIT_ERROR, EXIT_PARTIAL, EXIT_TUNED, Outcome, Row, check_rows
from .profile import Profile
from .state import SNAPSHOT, ProbedState, read_state


def check(host: Host, profile: Profile, root: str = "/", whole_machine: bool = False) -> Outcome:
    """``inv tune --check``: every row, and exit 0 only when everything in the profile is in place."""
    state = read_state(host, root, whole_machine)
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


def _explain(outcome: Outcome, ops: list[Operation], state: ProbedState) -> None:
    """List why settings cannot be set here and why the profile does not fit this host."""
    outcome.errors = [problem for op in ops for problem in op.problems(state)]
    outcome.skipped = [f"{op.name}: {op.skip(state)}" for op in ops if op.skip(state)]
    outcome.kept = [_kept_line(op, state) for op in ops if op.kept(state)]


def _kept_line(op: Operation, state: ProbedState) -> str:
    return f"{op.name}: {op.kept(state)} ({op.current(state)}; the profile asks {op.value})"


def tuning_state(host: Host, profile: Profile, root: str = "/", whole_machine: bool = False) -> dict[str, dict]:
    """For the report: setting -> {"current", "profile", "tuned", "state"}.

    ``tuned`` is True/False for what the profile sets and None for rows shown for
    information (the seed's other variables of interest, this session's limit). A host
    is tuned when no entry has ``tuned`` False.
    """
    return {row.setting: {"current": row.current, "profile": row.profile or None, "tuned": row.tuned,
                          "state": row.state}
            for row in check_rows(profile, read_state(host, root, whole_machine))}


def preview(host: Host, profile: Profile, root: str = "/", whole_machine: bool = False) -> Outcome:
    """``inv tune --dry-run``: the sysctl table and the file diffs; changes nothing."""
    state = read_state(host, root, whole_machine)
    outcome = Outcome(host.name, "dry-run", _where(host, state))
    ops = operations(profile)
    _explain(outcome, ops, state)
    for op in ops:
        if isinstance(op, SysctlKey):
            action = ("invalid" if op.problems(state) else "cannot set" if op.skip(state)
                      else op.kept(state) or ("change" if op.changes(state) else "unchanged"))
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


def apply(host: Host, profile: Profile, root: str = "/", whole_machine: bool = False) -> Outcome:
    """``inv tune``: validate, snapshot what will change, apply, verify; one run at a time."""
    with host_lock(host, root):
        state = read_state(host, root, whole_machine)
        return _transact(host, root, state, operations(profile), Outcome(host.name, "apply", _where(host, state)),
                         whole_machine)


def revert(host: Host, root: str = "/", whole_machine: bool = False) -> Outcome:
    """``inv tune --revert``: put back every value and file from the snapshot, then drop it."""
    with host_lock(host, root):
        return _revert(host, root, whole_machine)


def _revert(host: Host, root: str, whole_machine: bool) -> Outcome:
    state = read_state(host, root, whole_machine)
    outcome = Outcome(host.name, "revert", _where(host, state))
    snapshot = state.snapshot
    if snapshot is None:
        outcome.summary = f"nothing to revert: no snapshot at {state.root.rstrip('/')}/{SNAPSHOT}"
        return outcome
    outcome = _transact(host, root, state, restoring(snapshot), outcome, whole_machine)
    if outcome.code == EXIT_TUNED:
        remove_file(host, f"{state.root.rstrip('/')}/{SNAPSHOT}")
        outcome.notes.append(f"snapshot {state.root.rstrip('/')}/{SNAPSHOT} removed")
    return outcome


def _transact(host: Host, root: str, state: ProbedState, ops: list[Operation], outcome: Outcome,
              whole_machine: bool) -> Outcome:
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
    outcome.kept = [_kept_line(op, state) for op in ops if op.kept(state)]
    todo = [op for op in ops if op.changes(state)]
    if not todo:
        outcome.code = EXIT_PARTIAL if outcome.skipped else EXIT_TUNED
        outcome.summary = "nothing to change" + (", some settings cannot be set here" if outcome.skipped else "")
        if not reverting:
            outcome.notes.append("already tuned; the snapshot of the first apply is kept")
        return outcome
    if not reverting:
        snapshot = snapshot or {"version": 1, "sysctl": {}, "files": {}}
        if whole_machine:
            snapshot["whole_machine"] = True  # so a check, the report and revert see the machine as the user's
        for op in todo:
            op.save(state, snapshot)
        write_file(host, snapshot_path, json.dumps(snapshot, indent=2, sort_keys=True) + "\n")
        outcome.notes.append(f"snapshot in {snapshot_path}")
    for op in todo:
        op.apply(host, state)
    after = read_state(host, root, whole_machine)
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


def _record_after(host: Host, path: str, after: ProbedState, todo: list[Operation]) -> None:
    """Make the snapshot name the files as they ended up, so revert recognizes its own work."""
    snapshot = after.snapshot or {}
    files = snapshot.get("files", {})
    stale = [op for op in todo if isinstance(op, FileOperation) and op.relative in files
             and files[op.relative].get("after") != op.current(after)]
    for op in stale:
        files[op.relative]["after"] = op.current(after)
    if stale:
        write_file(host, path, json.dumps(snapshot, indent=2, sort_keys=True) + "\n")


def _change_line(op: Operation, before: ProbedState, after: ProbedState) -> str:
    if isinstance(op, SysctlKey):
        return f"{op.name}: {op.current(before) or 'absent'} -> {op.current(after)}"
    old, new = op.current(before), op.current(after)
    verb = "created" if old is None else "removed" if new is None else "updated"
    return f"{before.root.rstrip('/')}/{op.name}: {verb}"


def _where(host: Host, state: ProbedState) -> str:
    place = f", inside {state.confined}: global keys are left alone" if state.confined else ""
    return f"{host.name} (root {state.root}{place})"
