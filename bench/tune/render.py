"""An :class:`~.outcomes.Outcome` as the lines a user sees, and several hosts' exit codes as one."""
from __future__ import annotations

from .outcomes import EXIT_ERROR, EXIT_PARTIAL, EXIT_TUNED, Outcome, Row


def format_rows(rows: list[Row], headers=("setting", "current", "profile", "state")) -> list[str]:
    from tabulate import tabulate

    table = [(r.setting, r.current, r.profile, r.state) for r in rows]
    return tabulate(table, headers=headers, tablefmt="simple", disable_numparse=True).splitlines()


def format_outcome(outcome: Outcome) -> list[str]:
    """The lines a user sees for one host: tables, diffs, then changes, keeps, skips, errors, notes."""
    lines = [f"== {outcome.action}: {outcome.where}"]
    if outcome.rows:
        headers = ("key", "current", "profile", "plan") if outcome.action == "dry-run" else (
            "setting", "current", "profile", "state")
        lines += format_rows(outcome.rows, headers)
    for diff in outcome.diffs:
        lines += diff.rstrip("\n").splitlines()
    for title, items in (("changed", outcome.changed), ("kept", outcome.kept), ("cannot set", outcome.skipped),
                         ("error", outcome.errors), ("note", outcome.notes)):
        lines += [f"{title}: {item}" for item in items]
    lines.append(f"{outcome.host}: {outcome.summary} (exit {outcome.code})")
    return lines


def exit_code(codes: list[int]) -> int:
    """Several hosts' codes as one: any error wins, then any partial result."""
    return EXIT_ERROR if EXIT_ERROR in codes else EXIT_PARTIAL if EXIT_PARTIAL in codes else EXIT_TUNED
