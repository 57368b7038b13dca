"""Shell scripts that do their waiting on the host itself: one command, not a round trip per poll.

Each reports on one line that begins with :data:`MARK` (``key=value`` fields), which
:func:`report` reads back, with any log lines after it.

A process is known by its pid *and* its start time (field 22 of ``/proc/PID/stat``, clock
ticks since boot): pids wrap within minutes on a busy host, so a pid alone may name
another process by the time it is stopped.
"""
from __future__ import annotations

MARK = "-- twisted-lab"  # begins the line a script reports on
TERM = 'kill -TERM "$pid" 2>/dev/null'
# stat_of PID: its state, group and start time (false when there is no such process); the
# command name may hold spaces and ')', so the fields are those after its last ') '.
# look: what $pid is now: running or dead (a zombie) while it is the process started at
# $started, else gone or reused. alive: $pid is that process and runs. now: centiseconds since boot.
HELPERS = ('stat_of() { stat=; since=; { read -r stat </proc/"$1"/stat; } 2>/dev/null; [ -n "$stat" ] || return 1\n'
           '  set -- ${stat##*) }; state=$1 group=$3 since=${20}; }\n'
           'look() { if ! stat_of "$pid"; then seen=gone; elif [ "$since" != "$started" ]; then seen=reused\n'
           '  else case $state in Z|X) seen=dead;; *) seen=running;; esac; fi; }\n'
           'alive() { look; [ "$seen" = running ]; }\n'
           'now() { read -r t _ </proc/uptime; now=${t%.*}${t#*.}; }\n')

# What a stop found and did, in words (Host.stop returns one of them).
STOPPED, KILLED, GONE, REUSED = "stopped", "killed", "already gone", "pid reused: left alone"


def process_line(pid: str = "$pid") -> str:
    """Shell lines that set ``started`` to the start time of ``pid`` (empty when it is gone already)."""
    return f'stat_of "{pid}"; started=$since\n'


def stop_body(steps: tuple[tuple[str, float], ...]) -> str:
    """The stop of ``$pid`` started at ``$started`` (see :func:`stop_script`), for a script that set both."""
    # Its group, taken while its leader is known to be ours, so stragglers still go once the leader is reaped.
    lines = ['look; was=$seen; kin=\n'
             'case $seen in running|dead) [ "$group" = "$pid" ] && for m in $(pgrep -g "$pid" 2>/dev/null); do\n'
             '  stat_of "$m" && kin="$kin $m:$since"; done;; esac\n'
             'if [ "$was" = reused ]; then stop=skipped; else']
    for command, seconds in steps:
        lines.append(f"if alive; then {command}; fi\n"
                     f"now; end=$((now + {round(seconds * 100)}))\n"
                     f'while alive; do now; [ "$now" -lt "$end" ] || break; sleep 0.05; done')
    lines.append('if alive; then stop=late; else stop=done; fi\n'
                 'look; case $seen in running|dead) if [ "$group" = "$pid" ]; then kill -KILL -- "-$pid"\n'
                 '  else kill -KILL "$pid"; fi 2>/dev/null;; esac\n'
                 'for m in $kin; do stat_of "${m%:*}" && [ "$since" = "${m#*:}" ] && kill -KILL "${m%:*}" 2>/dev/null; done\n'
                 'fi\n'
                 f'[ "$was" = dead ] && was=gone; echo "{MARK} was=$was stop=$stop"')
    return "\n".join(lines) + "\n"


def stop_script(pid: int, started: int | None, steps: tuple[tuple[str, float], ...]) -> str:
    """Each step while the process runs, waiting there up to its seconds; then SIGKILL to its group (stragglers).

    Only the process started at ``started`` is signalled, and its group only while it leads it:
    a pid that now names another process is left alone (``was=reused``), one gone is ``was=gone``.
    """
    return f"pid={int(pid)} started={'' if started is None else int(started)}\n{HELPERS}{stop_body(steps)}"


def outcome(fields: dict[str, str]) -> str:
    """What a stop script's report says happened, in words."""
    if fields.get("was") == "reused":
        return REUSED
    if fields.get("was") != "running":
        return GONE
    return STOPPED if fields.get("stop") == "done" else KILLED


def report(stdout: str) -> tuple[dict[str, str], str] | None:
    """A script's report line (its fields) and the log lines after it joined by " | ", or None without one."""
    _, found, rest = stdout.rpartition(MARK + " ")
    if not found:
        return None
    first, _, tail = rest.partition("\n")
    fields = dict(field.split("=", 1) for field in first.split() if "=" in field)
    return fields, " | ".join(tail.strip().splitlines()) or "no output"
