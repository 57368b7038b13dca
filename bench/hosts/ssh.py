"""A lab machine as a Host over SSH, and the one strict way to connect to it.

Every SSH connection is made by :func:`connect`, which checks host keys against
known_hosts and refuses unknown or changed keys unless the user opts in by name;
:func:`open_host` is how tasks reach a host, this machine or one over SSH.
"""
from __future__ import annotations

import os
import shlex
import signal
import socket
from pathlib import Path

from invoke.exceptions import AuthFailure, CommandTimedOut, UnexpectedExit

from bench.errors import BenchError, HostLost
from bench.sudo import SUDO_PASSWORD_VARIABLE, sudo_password

from .base import (
    Host,
    cannot_start,
    command_failed,
    timed_out,
    unreadable,
)
from .job import Job
from .local import LocalHost
from .scripts import HELPERS, process_line
from .spec import HostSpec


class SSHHost(Host):
    """A lab machine reached over SSH, through a Fabric ``Connection``."""

    is_local = False

    def __init__(self, connection, spec: HostSpec, sudo_password: str | None = None):
        self.connection = connection
        self.spec = spec
        self.name = str(spec)
        self.sudo_password = sudo_password
        self.nofile: int | None = None  # open-file limit for every command (see raise_nofile)
        self.launched = {}

    def run(self, command, *, warn=False, timeout=None, env=None):
        from paramiko import SSHException  # loaded already: connect() made this host

        command = self._limited(command)
        # Fabric would inline env unquoted; quote it here.
        exports = " ".join(f"{name}={shlex.quote(str(value))}" for name, value in (env or {}).items())
        try:
            result = self.connection.run(f"export {exports} && {command}" if exports else command,
                                         hide=True, warn=warn, timeout=timeout, in_stream=False)
        except UnexpectedExit as exc:
            self._check_alive()
            raise BenchError(command_failed(self.name, command, exc.result)) from None
        except CommandTimedOut as exc:
            raise BenchError(timed_out(self.name, command, exc.timeout)) from None
        except (OSError, EOFError, SSHException) as exc:
            raise HostLost(f"{self.name}: connection lost ({exc}); check the host") from None
        self._check_alive()
        return result

    def _limited(self, command: str) -> str:
        """The command under the run's open-file limit (see raise_nofile)."""
        return f"ulimit -n {self.nofile} 2>/dev/null; {command}" if self.nofile else command

    def begin(self, command: str) -> Job:
        return SSHJob(self, self._limited(command))

    def _check_alive(self) -> None:
        """A session cut off mid-command ends like a command with no output: tell them apart."""
        transport = self.connection.transport
        if transport is None or not transport.is_active():
            raise HostLost(f"{self.name}: connection lost during a command; check the host")

    def sudo(self, command, *, warn=False, timeout=None):
        if self.spec.user in (None, "root") and self.run("id -u").stdout.strip() == "0":
            return self.run(command, warn=warn, timeout=timeout)
        if self.sudo_password is None:
            # Never answer a prompt with a password we do not have: sudo -n fails instead of asking.
            result = self.run("sudo -n sh -c " + shlex.quote(command), warn=True, timeout=timeout)
            if not result.ok and "password is required" in result.stderr:
                raise BenchError(f"{self.name}: sudo needs {self.spec.user or 'this user'}'s password: "
                                 f"set {SUDO_PASSWORD_VARIABLE} in the environment, or allow sudo without one")
            if not result.ok and not warn:
                raise BenchError(command_failed(self.name, command, result))
            return result
        try:
            return _without_prompt(self.connection.sudo(
                "sh -c " + shlex.quote(command), hide=True, warn=warn, timeout=timeout,
                password=self.sudo_password, in_stream=False,
            ), self.connection.config.sudo.prompt)
        except AuthFailure:
            raise BenchError(f"{self.name}: sudo refused the password in {SUDO_PASSWORD_VARIABLE} for "
                             f"{self.spec.user or 'this user'}; set it to that user's password") from None
        except UnexpectedExit as exc:
            result = _without_prompt(exc.result, self.connection.config.sudo.prompt)
            raise BenchError(command_failed(self.name, command, result)) from None
        except CommandTimedOut as exc:
            raise BenchError(timed_out(self.name, command, exc.timeout)) from None

    def put(self, local, remote):
        self.mkdir(str(Path(remote).parent))
        try:
            self.connection.put(str(local), remote)
        except OSError as exc:
            raise BenchError(f"{self.name}: cannot write {remote}: {exc.strerror or exc}; check the path") from None

    def get(self, remote, local):
        from paramiko import SSHException

        Path(local).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.connection.get(remote, str(local))
        except OSError as exc:  # a missing file too: one clean failure, no round trip to ask first
            Path(local).unlink(missing_ok=True)  # sftp leaves an empty file behind
            raise BenchError(unreadable(self.name, remote, exc)) from None
        except (EOFError, SSHException) as exc:
            Path(local).unlink(missing_ok=True)
            raise HostLost(f"{self.name}: connection lost ({exc}); check the host") from None

    def read_text(self, path):
        result = self.run(f"cat {shlex.quote(path)}", warn=True)
        if not result.ok:
            raise BenchError(f"{self.name}: cannot read {path}: {result.stderr.strip().rpartition(': ')[2]}; check the path")
        return result.stdout

    def write_text(self, path, text, mode=0o644):
        import io

        tmp = f"{path}.tmp.{os.getpid()}"
        self.mkdir(str(Path(path).parent))
        self.connection.put(io.BytesIO(text.encode()), tmp)
        self.run(f"chmod {mode:o} {shlex.quote(tmp)} && mv -f {shlex.quote(tmp)} {shlex.quote(path)}")

    def start(self, argv, log, cwd=None):
        command = " ".join(shlex.quote(a) for a in argv)
        # Without job control the background job is no group leader, so setsid
        # execs in place and $! is the server's own pid.
        result = self.run(f"{HELPERS}{f'cd {shlex.quote(cwd)} || exit' if cwd else ''}\n"
                          f"mkdir -p {shlex.quote(str(Path(log).parent))} || exit\n"
                          f"command -v {shlex.quote(argv[0])} >/dev/null || exit 127\n"
                          f"pid=$(setsid {command} >>{shlex.quote(log)} 2>&1 </dev/null & echo $!)\n"
                          f"{process_line()}echo \"$pid $started\"", warn=True)
        if result.exited == 127:
            raise BenchError(cannot_start(self.name, argv[0], "not found"))
        if not result.ok:
            raise BenchError(command_failed(self.name, command, result))
        pid, _, started = result.stdout.strip().rpartition("\n")[2].partition(" ")
        self.launched[int(pid)] = int(started) if started else None
        return int(pid)

    def alive(self, pid):
        state = self.run(f"ps -o stat= -p {pid}", warn=True).stdout.strip()
        return bool(state) and not state.startswith("Z")

    def signal(self, pid, sig=signal.SIGTERM, group=False):
        target = f"-{pid}" if group else str(pid)
        self.run(f"kill -{int(sig)} -- {target} 2>/dev/null", warn=True)

    def reconnect(self) -> None:
        """Open the connection again after it dropped (same strict host-key checks)."""
        self.connection.close()
        try:
            self.connection.open()
        except Exception as exc:
            raise HostLost(f"{self.name}: cannot reconnect ({exc}); check the host") from None

    def close(self):
        self.connection.close()


class SSHJob(Job):
    """A command on a channel of the host's connection, its input held open by the harness.

    Its exit status arrives with the channel's close; a channel closed without one, on a
    connection that is gone, is a lost host.
    """

    def __init__(self, host: SSHHost, command: str):
        from paramiko import SSHException

        super().__init__(host.name, command)
        self.transport = host.connection.transport
        try:
            self.channel = self.transport.open_session()
            self.channel.exec_command(command)
        except (OSError, EOFError, SSHException, AttributeError) as exc:  # AttributeError: no transport
            raise HostLost(f"{host.name}: connection lost ({exc}); check the host") from None
        self._read(lambda: self.channel.recv(65536), self._out)
        self._read(lambda: self.channel.recv_stderr(65536), self._err)

    def tell(self, line):
        try:
            self.channel.sendall(f"{line}\n".encode())
        except OSError:  # the channel closed: wait() tells an ended command from a lost host
            pass

    def close(self):
        try:
            self.channel.shutdown_write()
        except OSError:
            pass

    def _exit_status(self, timeout):
        if not self.channel.status_event.wait(timeout):
            return None
        if self.channel.exit_status == -1 and not self.transport.is_active():
            raise HostLost(f"{self.host}: connection lost while a job ran there; check the host")
        return self.channel.exit_status

    def kill(self):
        self.channel.close()


def _without_prompt(result, prompt: str):
    """``result`` with sudo's password prompt taken off the front of its stderr, where sudo -S
    writes it: errors, and callers reading stderr, see the command's own output."""
    if result.stderr.startswith(prompt):
        result.stderr = result.stderr[len(prompt):]
    return result


def connect(
    target: str | HostSpec,
    *,
    user: str | None = None,
    port: int | None = None,
    key_filename: str | None = None,
    known_hosts: str | None = None,
    trust_new: bool = False,
    connect_timeout: float = 10.0,
    sudo_password: str | None = None,
) -> SSHHost:
    """Open a strict SSH connection to a lab host.

    Host keys come from ``known_hosts`` (default: the user's own files). An unknown
    key is refused unless ``trust_new``, which records it in ``known_hosts``; a changed
    key is always refused. Only key or agent authentication is used.
    """
    import paramiko
    from fabric import Connection

    spec = target if isinstance(target, HostSpec) else HostSpec.parse(target)
    spec = HostSpec(spec.host, spec.user or user, spec.port or port or 22)
    known = os.path.expanduser(known_hosts or "~/.ssh/known_hosts")
    # The timeout goes to paramiko directly: Fabric's connect_timeout truncates it to whole seconds.
    connect_kwargs = {"look_for_keys": key_filename is None, "allow_agent": True, "password": None,
                      "timeout": connect_timeout}
    if key_filename:  # Fabric cannot take key_filename=None
        connect_kwargs["key_filename"] = [os.path.expanduser(key_filename)]
    connection = Connection(spec.host, user=spec.user, port=spec.port, connect_kwargs=connect_kwargs)
    connection.connect_timeout = None  # an ssh_config ConnectTimeout would clash with ours
    client = connection.client
    if known_hosts is None:
        client.load_system_host_keys()
    elif os.path.exists(known):
        client.load_host_keys(known)
    client.set_missing_host_key_policy(_RecordNewKey(known) if trust_new else paramiko.RejectPolicy())
    try:
        connection.open()
    except BaseException as exc:
        connection.close()  # else its transport thread and socket outlive the failure
        error = _connect_failure(spec, known, connect_timeout, exc)
        if error is None:
            raise
        raise error from None
    return SSHHost(connection, spec, sudo_password=sudo_password)


def _connect_failure(spec: HostSpec, known: str, timeout: float, exc: BaseException) -> BenchError | None:
    """The one-line error for a failed SSH connect, or None for errors not ours to word."""
    import paramiko

    if isinstance(exc, paramiko.BadHostKeyException):
        return BenchError(
            f"{spec}: host key changed (got {exc.key.get_name()} {exc.key.get_base64()[:16]}…); "
            f"if the host was reinstalled, remove its line from {known} and connect again with --trust-new-host"
        )
    if isinstance(exc, paramiko.AuthenticationException):
        return BenchError(f"{spec}: authentication failed as {spec.user or 'the local user'}; "
                          f"check the key (--key) and that the host authorizes it")
    if isinstance(exc, paramiko.SSHException):
        if "not found in known_hosts" in str(exc):
            return BenchError(f"{spec}: unknown host key; check it, then connect once with --trust-new-host to record it in {known}")
        return BenchError(f"{spec}: SSH failed: {exc}")
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return BenchError(f"{spec}: unreachable (timed out after {timeout:g}s); check the address and that sshd runs")
    if isinstance(exc, OSError):
        return BenchError(f"{spec}: unreachable ({exc.strerror or exc}); check the address and that sshd runs")
    return None


class _RecordNewKey:
    """Accept an unknown host key and append it to known_hosts (the user asked for it)."""

    def __init__(self, path: str):
        self.path = path

    def missing_host_key(self, client, hostname, key):
        import paramiko

        client.get_host_keys().add(hostname, key.get_name(), key)
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        line = paramiko.hostkeys.HostKeyEntry([hostname], key).to_line()
        with open(self.path, "a") as out:
            out.write(line)


def open_host(target: str | None, lab, *, key: str | None = None, known_hosts: str | None = None,
              trust_new: bool = False) -> Host:
    """The one way tasks reach a host: ``None`` is this machine, else ``user@host[:port]``
    over strict SSH with the ``lab:`` settings of invoke.yaml (user, port, key, known_hosts),
    ``key`` and ``known_hosts`` overriding theirs.

    A sudo password, when the remote user needs one, comes only from the environment.
    """
    if not target or target == "local":
        return LocalHost()
    return connect(target, user=lab.get("user"), port=lab.get("port"), key_filename=key or lab.get("key"),
                   known_hosts=known_hosts or lab.get("known_hosts"), trust_new=trust_new,
                   sudo_password=sudo_password())
