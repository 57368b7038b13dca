"""The Host interface: what every place commands run offers, whatever the transport.

Run a command, move files, start and stop a detached process by pid: the runner,
setup and tuning are written against this and never care which host they have.
The one-line failure messages are worded here so every transport says the same.
"""
from __future__ import annotations

import shlex
import signal
from pathlib import Path

from bench.errors import BenchError

from .scripts import TERM, outcome, report, stop_script


class Host:
    """The operations every host offers; subclasses implement the transport."""

    name: str
    is_local: bool
    launched: dict[int, int | None]  # what start() launched: pid -> its start time (see scripts)

    # -- commands ----------------------------------------------------------
    def run(self, command: str, *, warn: bool = False, timeout: float | None = None, env=None):
        """Run a shell command, output captured (``hide=True``); return Invoke's Result."""
        raise NotImplementedError

    def begin(self, command: str):
        """Start a shell command whose input the harness holds: a :class:`~bench.hosts.job.Job`."""
        raise NotImplementedError

    def sudo(self, command: str, *, warn: bool = False, timeout: float | None = None):
        """Run as root: directly when already root, else through sudo."""
        raise NotImplementedError

    # -- files ---------------------------------------------------------------
    def put(self, local: str | Path, remote: str) -> None:
        raise NotImplementedError

    def get(self, remote: str, local: str | Path) -> None:
        raise NotImplementedError

    def read_text(self, path: str) -> str:
        raise NotImplementedError

    def write_text(self, path: str, text: str, mode: int = 0o644) -> None:
        """Write atomically: a temporary file beside ``path``, then a rename."""
        raise NotImplementedError

    def exists(self, path: str) -> bool:
        return self.run(f"test -e {shlex.quote(path)}", warn=True).ok

    def home(self) -> str:
        return self.run("printf %s \"$HOME\"").stdout

    def expand(self, path: str) -> str:
        """Resolve a leading ``~`` on this host."""
        if path == "~" or path.startswith("~/"):
            return self.home() + path[1:]
        return path

    def mkdir(self, path: str) -> None:
        self.run(f"mkdir -p {shlex.quote(path)}")

    # -- processes -----------------------------------------------------------
    def start(self, argv: list[str], log: str, cwd: str | None = None) -> int:
        """Start ``argv`` detached in its own session, output to ``log``; return its pid.

        Its start time is kept in ``launched`` (pid -> start time), so :meth:`stop` knows it.
        """
        raise NotImplementedError

    def alive(self, pid: int) -> bool:
        raise NotImplementedError

    def signal(self, pid: int, sig: int = signal.SIGTERM, group: bool = False) -> None:
        raise NotImplementedError

    def stop(self, pid: int, timeout: float = 10.0, started: int | None = None) -> str:
        """SIGTERM ``pid``, wait for it there, then SIGKILL its process group; what happened, in words.

        Only the process started at ``started`` (by default, the one :meth:`start` launched
        with that pid) is signalled: ``scripts.STOPPED`` when it stopped on SIGTERM within
        ``timeout``, ``KILLED`` when it had to be killed, ``GONE`` or ``REUSED`` when it was
        no longer there to stop (a reused pid is left alone).
        """
        started = self.launched.get(pid) if started is None else started
        result = self.run(stop_script(pid, started, ((TERM, timeout),)), warn=True, timeout=timeout + 30)
        said = report(result.stdout)
        if said is None:
            raise BenchError(command_failed(self.name, f"stopping pid {pid}", result))
        return outcome(said[0])

    def reconnect(self) -> None:
        """Reopen a dropped connection; nothing to do for this machine."""

    def close(self) -> None:
        """Let the connection go; nothing to do for this machine."""

    def __str__(self) -> str:
        return self.name


# -- the failures every transport words the same way --------------------------------

def command_failed(host: str, command: str, result) -> str:
    tail = (result.stderr or result.stdout or "").strip().splitlines()[-1:] or ["no output"]
    return f"{host}: `{command}` exited {result.exited}: {tail[0]}"


def timed_out(host: str, command: str, timeout: float) -> str:
    return f"{host}: `{command}` timed out after {timeout:g}s; check the host's load or raise the timeout"


def unreadable(host: str, path: str, exc: OSError) -> str:
    return f"{host}: cannot read {path}: {exc.strerror or exc}; check the path"


def cannot_start(host: str, program: str, reason: str) -> str:
    return f"{host}: cannot start {program}: {reason}; check that it is installed (inv setup)"
