"""Commands started at one moment on several hosts, through shells kept open for a whole case.

A remote command pays its host's login shell start-up (on a lab host as root, ~0.15 s:
its login files are not ours to change). So each host gets one :class:`Session` per
case: a small POSIX shell loop, begun once, that says ``ready`` and then runs each
line it is sent, one at a time, ending each with its status and CPU. Sending the
round's lines to every session at once starts the round everywhere together.

While a command runs, the end of the session's input stops it: so a lost harness or
SSH connection stops it too, and stopping a round anywhere is closing its sessions,
with no pid to find and no extra round trip.
"""
from __future__ import annotations

import re
import time

from bench.errors import BenchError, HostLost
from bench.hosts import Host
from bench.hosts.job import Job

READY = "ready"
# Each command's output ends with the shell's `times` and this line, with its exit status.
END = "@@end"
LOOP = (
    f"exec 3<&0; echo {READY}\n"
    "while IFS= read -r line <&3; do\n"
    "  eval \"exec $line\" 3<&- </dev/null 2>&1 &\n"
    "  job=$!\n"
    "  { read -r _ <&3; kill -TERM \"$job\" 2>/dev/null; } &\n"
    "  watch=$!\n"
    "  wait \"$job\"; status=$?\n"
    "  kill \"$watch\" 2>/dev/null; wait \"$watch\" 2>/dev/null\n"
    "  times\n"
    f"  echo \"{END} $status\"\n"
    "done\n"
)
_ENDED = re.compile(rf"^{END} (\d+)\n", re.MULTILINE)


class Session:
    """A shell kept open on a host that runs the lines it is sent, one at a time."""

    def __init__(self, host: Host):
        self.host = host
        self.job: Job | None = None
        self.cpu = 0.0  # the children's CPU so far, as `times` last said
        self.begun = 0  # the byte where the running command's output starts

    def begin(self) -> None:
        self.job = self.host.begin(LOOP)

    def ready(self, timeout: float) -> None:
        if self.job.wait_for(READY + "\n", timeout):
            self.begun = self.job.stdout_from(0).encode().index(f"{READY}\n".encode()) + len(READY) + 1
            return
        status = self.job.wait(1.0)  # a lost host raises HostLost here
        said = " | ".join(self.job.stderr.strip().splitlines()[-2:]) or "no output"
        if status is None:
            raise BenchError(f"{self.host}: its shell did not start within {timeout:g}s ({said}); check the host's load")
        raise BenchError(f"{self.host}: its shell exited {status} before it was ready: {said}")

    def send(self, line: str) -> None:
        """Start ``line`` (a shell command of one line); its outcome comes from :meth:`outcome`."""
        if "\n" in line:
            raise ValueError("a session runs one-line commands")
        self.begun = self.job.size
        self.job.tell(line)

    def outcome(self) -> tuple[int, str, float | None] | None:
        """(exit status, output, CPU seconds) of the command sent last, or None while it runs.

        HostLost when the host's connection went; a BenchError when the shell itself ended.
        """
        output = self.job.stdout_from(self.begun)
        ended = _ENDED.search(output)
        if ended is None:
            status = self.job.wait(0)
            if status is not None:
                raise BenchError(f"{self.host}: its shell ended ({status}) mid-command: {output.strip()[-200:]}")
            return None
        text, total = split_times(output[:ended.start()])
        cpu = None
        if total is not None:  # `times` counts all the shell's children so far: this line's is the growth
            cpu, self.cpu = max(total - self.cpu, 0.0), total
        return int(ended.group(1)), text, cpu

    def close(self, timeout: float = 5.0) -> None:
        """End the shell: its input closes, which also stops a command still running."""
        if self.job is None:
            return
        self.job.close()
        try:
            if self.job.wait(timeout) is None:
                self.job.kill()
        except HostLost:
            pass  # its processes stop by themselves: their input closed with the connection


class Sessions:
    """One session per host, begun together; a context manager that ends them all."""

    def __init__(self, hosts: list[Host], ready_timeout: float = 30.0):
        self.hosts = hosts
        self.sessions: list[Session] = []
        self.ready_timeout = ready_timeout

    def __enter__(self) -> Sessions:
        self.open()
        return self

    def open(self) -> None:
        """Begin every host's shell, then wait until each is ready."""
        self.begin()
        self.ready()

    def begin(self) -> None:
        """Begin every host's shell; they start up meanwhile (see :meth:`ready`)."""
        self.sessions = [Session(host) for host in self.hosts]
        try:
            for session in self.sessions:
                session.begin()
        except BaseException:
            self.close()
            raise

    def ready(self) -> None:
        """Wait until every shell begun is ready."""
        deadline = time.monotonic() + self.ready_timeout
        try:
            for session in self.sessions:
                session.ready(max(deadline - time.monotonic(), 0.0))
        except BaseException:
            self.close()
            raise

    def run(self, lines: list[tuple[int, str]], timeout: float) -> list[tuple[int, str, float | None]]:
        """Start each line on its host's session (by index in ``hosts``) at once; wait until all end:
        each one's (exit status, output, CPU seconds).

        A lost host, a failure, Ctrl-C or a line still running after ``timeout`` ends every
        session, which stops what they run.
        """
        if not self.sessions:  # closed after a failure: fresh shells
            self.open()
        lines = [(self.sessions[index], line) for index, line in lines]
        for session, line in lines:
            session.send(line)
        deadline = time.monotonic() + timeout
        done: dict[int, tuple] = {}
        try:
            while len(done) < len(lines):
                seen = {}  # each pending session's output size before it was read: what to wait beyond
                for index, (session, _) in enumerate(lines):
                    if index not in done:
                        seen[index] = session.job.size
                        outcome = session.outcome()
                        if outcome is not None:
                            done[index] = outcome
                if len(done) < len(lines):
                    if time.monotonic() > deadline:
                        late = ", ".join(str(session.host) for index, (session, _) in enumerate(lines)
                                         if index not in done)
                        raise BenchError(f"{late}: the load did not end within {timeout:g}s; "
                                         f"check the host's load or lower the load")
                    # Woken by output, not by polling: the harness's own CPU stays off the machine.
                    index = next(index for index in seen if index not in done)
                    lines[index][0].job.wait_for_output(seen[index], 0.05)
        except BaseException:
            # Their inputs close: each stops what it runs. The next run begins fresh shells.
            self.close()
            raise
        return [done[index] for index in range(len(lines))]

    def close(self) -> None:
        for session in self.sessions:
            session.close()
        self.sessions = []

    def __exit__(self, *exc) -> None:
        self.close()


_TIMES = re.compile(r"^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$")


def split_times(output: str) -> tuple[str, float | None]:
    """Take the shell's ``times`` lines off the end of ``output``: (the rest, its children's user + system seconds)."""
    lines = output.rstrip("\n").split("\n")
    if len(lines) >= 2 and _TIMES.match(lines[-1]) and _TIMES.match(lines[-2]):
        minutes_user, user, minutes_system, system = _TIMES.match(lines[-1]).groups()
        rest = "\n".join(lines[:-2])
        return rest + "\n" if rest else "", 60 * (int(minutes_user) + int(minutes_system)) + float(user) + float(system)
    return output, None
