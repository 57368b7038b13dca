"""Shell scripts that do their waiting on the host itself: one command, not a round trip per poll.

Each reports on one line that begins with :data:`MARK` (``key=value`` fields), which
:func:`report` reads back, with any log lines after it.
"""
from __future__ import annotations

MARK = "-- twisted-lab"  # begins the line a script reports on
TERM = 'kill -TERM "$pid" 2>/dev/null'
# alive: $pid runs (a zombie does not). now: centiseconds since boot.
HELPERS = ('alive() { case "$(ps -o stat= -p "$pid" 2>/dev/null)" in ""|*Z*) return 1;; esac; }\n'
           'now() { read -r t _ </proc/uptime; now=${t%.*}${t#*.}; }\n')


def stop_script(pid: int, steps: tuple[tuple[str, float], ...]) -> str:
    """Each step while the process runs, waiting there up to its seconds; then SIGKILL to its group (stragglers)."""
    lines = [f"pid={pid}", HELPERS + 'if alive; then was=running; else was=gone; fi']
    for command, seconds in steps:
        lines.append(f"if alive; then {command}; fi\n"
                     f"now; end=$((now + {round(seconds * 100)}))\n"
                     f'while alive; do now; [ "$now" -lt "$end" ] || break; sleep 0.05; done')
    lines.append('if alive; then stop=late; else stop=done; fi\nkill -KILL -- "-$pid" 2>/dev/null\n'
                 f'echo "{MARK} was=$was stop=$stop"')
    return "\n".join(lines) + "\n"


def report(stdout: str) -> tuple[dict[str, str], str] | None:
    """A script's report line (its fields) and the log lines after it joined by " | ", or None without one."""
    _, found, rest = stdout.rpartition(MARK + " ")
    if not found:
        return None
    first, _, tail = rest.partition("\n")
    fields = dict(field.split("=", 1) for field in first.split() if "=" in field)
    return fields, " | ".join(tail.strip().splitlines()) or "no output"
