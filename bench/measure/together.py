"""Commands started at one moment on several hosts: all begun and ready, then all told to go.

Each command is wrapped in a small POSIX shell script that says ``ready``, waits for
``go`` on its input, and is stopped when its input closes. So a lost harness or SSH
connection stops it too, and stopping a round anywhere is closing the inputs of its
jobs: no pid to find, no extra round trip to a host.
"""
from __future__ import annotations

import time

from bench.errors import BenchError, HostLost
from bench.hosts import Host
from bench.hosts.job import Job

READY, GO = "ready", "go"
# A job that never heard "go" exits with this.
NOT_STARTED = 125


def waiting(body: str) -> str:
    """``body`` run once the job has said ready and heard go; the job's input stays on fd 3."""
    return (f"exec 3<&0; echo {READY}; "
            f"read -r go <&3 && [ \"$go\" = {GO} ] || exit {NOT_STARTED}\n{body}")


def said(stdout: str) -> str:
    """What a job printed after it said ready (a login shell may print before that)."""
    before, found, after = stdout.partition(READY + "\n")
    return after if found else before


def until_done(command: str) -> str:
    """A script that runs ``command`` after go, stops it when its input closes, and reports its CPU.

    The shell's ``times`` (its children's user and system seconds, on stderr) is the
    command's CPU on any host.
    """
    return waiting(
        f"{command} 3<&- &\n"
        "job=$!\n"
        "{ read -r _ <&3; kill -TERM \"$job\" 2>/dev/null; } &\n"
        "watch=$!\n"
        "wait \"$job\"; status=$?\n"
        "kill \"$watch\" 2>/dev/null\n"
        "times >&2\n"
        "exit \"$status\"\n")


class Together:
    """Jobs on several hosts, begun together; use as a context manager, which stops what still runs."""

    def __init__(self, starts: list[tuple[Host, str]], ready_timeout: float = 30.0):
        self.starts, self.ready_timeout = starts, ready_timeout
        self.jobs: list[Job] = []

    def __enter__(self) -> Together:
        try:
            for host, script in self.starts:
                self.jobs.append(host.begin(script))
            deadline = time.monotonic() + self.ready_timeout
            for job in self.jobs:
                if not job.wait_for(READY, max(deadline - time.monotonic(), 0.0)):
                    self._not_ready(job)
        except BaseException:
            self.stop()
            raise
        return self

    def _not_ready(self, job: Job) -> None:
        status = job.wait(1.0)  # a lost host raises HostLost here
        said = " | ".join(job.stderr.strip().splitlines()[-2:]) or "no output"
        if status is None:
            raise BenchError(f"{job.host}: a job did not start within {self.ready_timeout:g}s ({said}); "
                             f"check the host's load")
        raise BenchError(f"{job.host}: a job exited {status} before it started: {said}")

    def go(self) -> None:
        for job in self.jobs:
            job.tell(GO)

    def finish(self, jobs: list[Job], timeout: float) -> list[int]:
        """Wait for ``jobs`` to end by themselves; each one's exit status.

        A lost host, or a job still running after ``timeout``, stops every job of the round.
        """
        deadline = time.monotonic() + timeout
        statuses: dict[int, int] = {}
        try:
            while len(statuses) < len(jobs):
                for index, job in enumerate(jobs):
                    if index not in statuses:
                        status = job.wait(0)
                        if status is not None:
                            statuses[index] = status
                if len(statuses) < len(jobs):
                    if time.monotonic() > deadline:
                        late = ", ".join(job.host for index, job in enumerate(jobs) if index not in statuses)
                        raise BenchError(f"{late}: the load did not end within {timeout:g}s; "
                                         f"check the host's load or lower the load")
                    time.sleep(0.01)
        except (HostLost, BenchError, KeyboardInterrupt):
            self.stop()
            raise
        return [statuses[index] for index in range(len(jobs))]

    def stop(self, timeout: float = 5.0) -> None:
        """Close every job's input (each stops), wait for them, and kill what is left."""
        for job in self.jobs:
            job.close()
        deadline = time.monotonic() + timeout
        for job in self.jobs:
            try:
                if job.wait(max(deadline - time.monotonic(), 0.0)) is None:
                    job.kill()
            except HostLost:
                pass  # its processes stop by themselves: their input closed with the connection

    def __exit__(self, *exc) -> None:
        self.stop()
