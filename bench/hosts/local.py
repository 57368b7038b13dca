"""This machine as a Host: commands through bash, files and processes directly."""
from __future__ import annotations

import os
import shlex
import signal
import subprocess
import tempfile
from pathlib import Path

from invoke import Result

from bench.errors import BenchError
from bench.sudo import sudo_password

from .base import (
    Host,
    cannot_start,
    command_failed,
    timed_out,
    unreadable,
)
from .job import Job


class LocalHost(Host):
    """This machine: commands run through bash, with Invoke's Result as their outcome."""

    is_local = True

    def __init__(self):
        self.name = "local"
        self._children: dict[int, subprocess.Popen] = {}
        self.launched = {}

    def run(self, command, *, warn=False, timeout=None, env=None):
        # Its own session, so a timeout or Ctrl-C stops the command's whole tree and
        # Ctrl-C reaches the harness (Invoke's runner would forward it and go on).
        child = subprocess.Popen(["/bin/bash", "-c", command], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, env=child_environment(env), start_new_session=True)
        try:
            stdout, stderr = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_tree(child)
            raise BenchError(timed_out(self.name, command, timeout)) from None
        except BaseException:
            _kill_tree(child)
            raise
        result = Result(stdout=stdout.decode(errors="replace"), stderr=stderr.decode(errors="replace"),
                        command=command, shell="/bin/bash", exited=child.returncode, hide=("stdout", "stderr"))
        if not result.ok and not warn:
            raise BenchError(command_failed(self.name, command, result))
        return result

    def begin(self, command: str) -> Job:
        return LocalJob(command)

    def sudo(self, command, *, warn=False, timeout=None):
        if os.geteuid() != 0:
            command = "sudo -n sh -c " + shlex.quote(command)
        return self.run(command, warn=warn, timeout=timeout)

    def put(self, local, remote):
        self.write_bytes(remote, Path(local).read_bytes(), os.stat(local).st_mode & 0o777)

    def get(self, remote, local):
        try:
            data = Path(remote).read_bytes()
        except OSError as exc:
            raise BenchError(unreadable(self.name, remote, exc)) from None
        Path(local).parent.mkdir(parents=True, exist_ok=True)
        Path(local).write_bytes(data)

    def read_text(self, path):
        try:
            return Path(path).read_text()
        except OSError as exc:
            raise BenchError(unreadable(self.name, path, exc)) from None

    def write_text(self, path, text, mode=0o644):
        self.write_bytes(path, text.encode(), mode)

    def write_bytes(self, path, data: bytes, mode=0o644):
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, mode)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def exists(self, path):
        return Path(path).exists()

    def home(self):
        return str(Path.home())

    def mkdir(self, path):
        Path(path).mkdir(parents=True, exist_ok=True)

    def start(self, argv, log, cwd=None):
        Path(log).parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            try:
                child = subprocess.Popen(
                    argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    cwd=cwd, start_new_session=True, env=child_environment(),
                )
            except OSError as exc:
                raise BenchError(cannot_start(self.name, argv[0], exc.strerror)) from None
        self._children[child.pid] = child
        self.launched[child.pid] = start_time(child.pid)  # not reaped yet: the pid is still its own
        return child.pid

    def alive(self, pid):
        child = self._children.get(pid)
        if child is not None:
            if child.poll() is None:
                return True
            del self._children[pid]
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return not _is_zombie(pid)

    def stop(self, pid, timeout=10.0, started=None):
        said = super().stop(pid, timeout, started)
        self.alive(pid)  # reaps it, if it was our child
        return said

    def signal(self, pid, sig=signal.SIGTERM, group=False):
        try:
            if group:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


class LocalJob(Job):
    """A command in a session of its own on this machine, its input a pipe the harness holds."""

    def __init__(self, command: str):
        super().__init__("local", command)
        self.process = subprocess.Popen(["/bin/bash", "-c", command], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, env=child_environment(), start_new_session=True)
        self._read(lambda: self.process.stdout.read1(65536), self._out)
        self._read(lambda: self.process.stderr.read1(65536), self._err)

    def tell(self, line):
        try:
            self.process.stdin.write(f"{line}\n".encode())
            self.process.stdin.flush()
        except (BrokenPipeError, ValueError):  # it ended, or its input is closed already
            pass

    def close(self):
        try:
            self.process.stdin.close()
        except BrokenPipeError:
            pass

    def _exit_status(self, timeout):
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        _kill_tree(self.process)


def child_environment(extra: dict | None = None) -> dict[str, str]:
    """This process's environment for a child, without the sudo password: the harness alone reads it."""
    sudo_password()  # one set since the package loaded leaves the environment too
    return {**os.environ, **(extra or {})}


def _kill_tree(child: subprocess.Popen) -> None:
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    child.wait()


def start_time(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot (field 22 of /proc/PID/stat); None when it is gone."""
    fields = _stat(pid)
    return int(fields[19]) if fields else None


def _is_zombie(pid: int) -> bool:
    fields = _stat(pid)
    return bool(fields) and fields[0] == "Z"


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (which may hold spaces and ')'), state first."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
