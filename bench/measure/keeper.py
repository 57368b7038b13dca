"""A run's servers end with its harness: a keeper on the server host, and the next run's reaping.

Each server a run starts is listed in the run's work folder there (``pids/PID``: its pid and
start time). The keeper is a shell begun with the run on the server host, whose input the
harness holds; when that input closes — the run ended, its harness was SIGKILLed or
OOM-killed, or its SSH connection dropped — the keeper stops every server still listed, by
pid and start time (see ``bench.hosts.scripts``). It takes its mark off the folder first, and
a launch lists its server before it looks for that mark, so no server slips past a keeper
that is ending: the launch stops it itself. Should the keeper have been killed too, the next
run on that host stops what the folder lists (:func:`reap`), and says so.
"""
from __future__ import annotations

import shlex

from bench.errors import BenchError, HostLost
from bench.hosts import Host
from bench.hosts.scripts import HELPERS, MARK, TERM, report, stop_body

GRACE = 5.0  # seconds a server gets to end on SIGTERM once its harness is gone, before its group is killed
READY = "keeping"
UNKEPT = 4  # the exit status of a launch that found its run's keeper gone (its server is stopped)
STOP = stop_body(((TERM, GRACE),))  # of $pid started at $started


def keeper_script(workdir: str) -> str:
    """The keeper of the servers listed in ``workdir``: it marks the folder, says READY, and waits for
    the end of its input; then it takes its mark off and stops each server still listed."""
    folder = shlex.quote(workdir)
    return (f"trap '' HUP PIPE\n{HELPERS}"
            f'stat_of $$ && echo "$$ $since" >{folder}/.keeper && mv -f {folder}/.keeper {folder}/keeper '
            f"&& mkdir -p {folder}/pids || exit\n"
            f"echo {READY}\n"
            "while read -r _; do :; done\n"
            "exec >/dev/null 2>&1\n"  # whoever read its output is gone
            f"rm -f {folder}/keeper\n"
            f"for file in {folder}/pids/*; do\n"
            '  [ -f "$file" ] && read -r pid started <"$file" || continue\n'
            f'{STOP}  rm -f "$file"\n'
            "done\n")


def listed(workdir: str) -> str:
    """Shell lines for a launch that set $pid and $started: list the server in ``workdir``, then
    stop it and exit UNKEPT if the folder's keeper is gone."""
    folder = shlex.quote(workdir)
    return (f'echo "$pid $started" >{folder}/pids/."$pid" && mv -f {folder}/pids/."$pid" {folder}/pids/"$pid" || exit\n'
            f'[ -e {folder}/keeper ] || {{\n{STOP}rm -f {folder}/pids/"$pid"; exit {UNKEPT}; }}\n')


def unlisted(workdir: str, pid: int) -> str:
    """A shell line that takes a stopped server off the list."""
    return f"rm -f {shlex.quote(f'{workdir}/pids/{int(pid)}')}\n"


class Keeper:
    """The keeper of one run's servers on its server host (see the module's docstring)."""

    def __init__(self, host: Host, workdir: str, timeout: float = 30.0):
        self.host = host
        self.job = host.begin(keeper_script(workdir))
        if not self.job.wait_for(READY + "\n", timeout):
            said = " | ".join(self.job.stderr.strip().splitlines()[-2:]) or "no output"
            self.close(0)
            raise BenchError(f"{host}: the keeper of the run's servers did not start ({said}); check the host")

    @property
    def running(self) -> bool:
        try:
            return self.job.wait(0) is None
        except HostLost:
            return False

    def close(self, timeout: float = GRACE + 10) -> None:
        """Close its input: it stops any server still listed, then ends."""
        self.job.close()
        try:
            if self.job.wait(timeout) is None:
                self.job.kill()
        except HostLost:
            pass  # it got the end of its input with the connection


def reap_script(prefix: str) -> str:
    """Stop the servers listed in the work folders ``prefix*`` (this user's) whose keeper is gone."""
    return (f"{HELPERS}reaped=\n"
            f"for folder in {shlex.quote(prefix)}*; do\n"
            '  [ -d "$folder/pids" ] && [ -O "$folder" ] || continue\n'
            '  if [ -f "$folder/keeper" ] && read -r pid started <"$folder/keeper" && alive; then continue; fi\n'
            '  for file in "$folder"/pids/*; do\n'
            '    [ -f "$file" ] && read -r pid started <"$file" || continue\n'
            f'{STOP}    [ "$was" = running ] && reaped="$reaped,$pid"\n'
            '    rm -f "$file"\n'
            "  done\n"
            "done\n"
            f'echo "{MARK} reaped=${{reaped#,}}"\n')


def reap(host: Host, prefix: str) -> str | None:
    """Stop what earlier runs on ``host`` left running (their work folders begin with ``prefix``, their
    keeper is gone); the line that says so, or None when there was nothing."""
    result = host.run(reap_script(prefix), warn=True, timeout=120)
    said = report(result.stdout)
    pids = [pid for pid in (said[0].get("reaped", "") if said else "").split(",") if pid]
    if not pids:
        return None
    return (f"{host}: stopped {len(pids)} server process{'es' if len(pids) > 1 else ''} an earlier run left running "
            f"when its harness went away (pid {', '.join(pids)})")
