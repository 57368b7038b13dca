"""Where commands run: this machine (``LocalHost``) or a lab machine over SSH (``SSHHost``).

Both offer the same small surface — run a command, move files, start and stop a
detached process by pid — so the runner, setup and tuning never care which is which.
Every SSH connection is made by :func:`connect`, which checks host keys against
known_hosts and refuses unknown or changed keys unless the user opts in by name.
"""
from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from invoke import Result
from invoke.exceptions import CommandTimedOut, UnexpectedExit

from .errors import BenchError, HostLost


@dataclass(frozen=True)
class HostSpec:
    """``user@host:port`` as given on the command line."""

    host: str
    user: str | None = None
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> "HostSpec":
        user, _, rest = text.rpartition("@")
        host, port = rest, None
        if rest.startswith("["):  # [v6addr]:port
            host, _, tail = rest[1:].partition("]")
            port = tail[1:] or None
        elif rest.count(":") == 1:
            host, port = rest.split(":")
        if not host:
            raise BenchError(f"bad host {text!r}: write it as user@host or user@host:port")
        try:
            number = int(port) if port else None
        except ValueError:
            number = 0
        if number is not None and not 0 < number < 65536:
            raise BenchError(f"bad port in {text!r}: write it as user@host:port, port 1-65535")
        return cls(host=host, user=user or None, port=number)

    def __str__(self) -> str:
        text = f"{self.user}@{self.host}" if self.user else self.host
        return f"{text}:{self.port}" if self.port else text


class Host:
    """The operations every host offers; subclasses implement the transport."""

    name: str
    is_local: bool

    # -- commands ----------------------------------------------------------
    def run(self, command: str, *, warn: bool = False, timeout: float | None = None, env=None):
        """Run a shell command, output captured (``hide=True``); return Invoke's Result."""
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
        """Start ``argv`` detached in its own session, output to ``log``; return its pid."""
        raise NotImplementedError

    def alive(self, pid: int) -> bool:
        raise NotImplementedError

    def signal(self, pid: int, sig: int = signal.SIGTERM, group: bool = False) -> None:
        raise NotImplementedError

    def stop(self, pid: int, timeout: float = 10.0) -> bool:
        """SIGTERM ``pid``, wait for it, then SIGKILL its process group.

        Returns True when it stopped on SIGTERM within ``timeout``.
        """
        self.signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive(pid):
                self.signal(pid, signal.SIGKILL, group=True)  # stragglers in its group
                return True
            time.sleep(0.05)
        self.signal(pid, signal.SIGKILL, group=True)
        return False

    def reconnect(self) -> None:
        """Reopen a dropped connection; nothing to do for this machine."""

    def close(self) -> None:
        """Let the connection go; nothing to do for this machine."""

    def __str__(self) -> str:
        return self.name


class LocalHost(Host):
    """This machine: commands run through bash, with Invoke's Result as their outcome."""

    is_local = True

    def __init__(self):
        self.name = "local"
        self._children: dict[int, subprocess.Popen] = {}

    def run(self, command, *, warn=False, timeout=None, env=None):
        # Its own session, so a timeout or Ctrl-C stops the command's whole tree and
        # Ctrl-C reaches the harness (Invoke's runner would forward it and go on).
        child = subprocess.Popen(["/bin/bash", "-c", command], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, env={**os.environ, **(env or {})}, start_new_session=True)
        try:
            stdout, stderr = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_tree(child)
            raise BenchError(_timed_out(self.name, command, timeout)) from None
        except BaseException:
            _kill_tree(child)
            raise
        result = Result(stdout=stdout.decode(errors="replace"), stderr=stderr.decode(errors="replace"),
                        command=command, shell="/bin/bash", exited=child.returncode, hide=("stdout", "stderr"))
        if not result.ok and not warn:
            raise BenchError(_failure(self.name, command, result))
        return result

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
            raise BenchError(_unreadable(self.name, remote, exc)) from None
        Path(local).parent.mkdir(parents=True, exist_ok=True)
        Path(local).write_bytes(data)

    def read_text(self, path):
        try:
            return Path(path).read_text()
        except OSError as exc:
            raise BenchError(_unreadable(self.name, path, exc)) from None

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
                    cwd=cwd, start_new_session=True,
                )
            except OSError as exc:
                raise BenchError(_cannot_start(self.name, argv[0], exc.strerror)) from None
        self._children[child.pid] = child
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

    def signal(self, pid, sig=signal.SIGTERM, group=False):
        try:
            if group:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _kill_tree(child: subprocess.Popen) -> None:
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    child.wait()


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


def _failure(host: str, command: str, result) -> str:
    tail = (result.stderr or result.stdout or "").strip().splitlines()[-1:] or ["no output"]
    return f"{host}: `{command}` exited {result.exited}: {tail[0]}"


def _timed_out(host: str, command: str, timeout: float) -> str:
    return f"{host}: `{command}` timed out after {timeout:g}s; check the host's load or raise the timeout"


def _unreadable(host: str, path: str, exc: OSError) -> str:
    return f"{host}: cannot read {path}: {exc.strerror or exc}; check the path"


def _cannot_start(host: str, program: str, reason: str) -> str:
    return f"{host}: cannot start {program}: {reason}; check that it is installed (inv setup)"


class SSHHost(Host):
    """A lab machine reached over SSH, through a Fabric ``Connection``."""

    is_local = False

    def __init__(self, connection, spec: HostSpec, sudo_password: str | None = None):
        self.connection = connection
        self.spec = spec
        self.name = str(spec)
        self.sudo_password = sudo_password
        self.nofile: int | None = None  # open-file limit for every command (see raise_nofile)

    def run(self, command, *, warn=False, timeout=None, env=None):
        from paramiko import SSHException  # loaded already: connect() made this host

        if self.nofile:
            command = f"ulimit -n {self.nofile} 2>/dev/null; {command}"

        # Fabric would inline env unquoted; quote it here.
        exports = " ".join(f"{name}={shlex.quote(str(value))}" for name, value in (env or {}).items())
        try:
            result = self.connection.run(f"export {exports} && {command}" if exports else command,
                                         hide=True, warn=warn, timeout=timeout, in_stream=False)
        except UnexpectedExit as exc:
            self._check_alive()
            raise BenchError(_failure(self.name, command, exc.result)) from None
        except CommandTimedOut as exc:
            raise BenchError(_timed_out(self.name, command, exc.timeout)) from None
        except (OSError, EOFError, SSHException) as exc:
            raise HostLost(f"{self.name}: connection lost ({exc}); check the host") from None
        self._check_alive()
        return result

    def _check_alive(self) -> None:
        """A session cut off mid-command ends like a command with no output: tell them apart."""
        transport = self.connection.transport
        if transport is None or not transport.is_active():
            raise HostLost(f"{self.name}: connection lost during a command; check the host")

    def sudo(self, command, *, warn=False, timeout=None):
        if self.spec.user in (None, "root") and self.run("id -u").stdout.strip() == "0":
            return self.run(command, warn=warn, timeout=timeout)
        try:
            return self.connection.sudo(
                "sh -c " + shlex.quote(command), hide=True, warn=warn, timeout=timeout,
                password=self.sudo_password, in_stream=False,
            )
        except UnexpectedExit as exc:
            raise BenchError(_failure(self.name, command, exc.result)) from None
        except CommandTimedOut as exc:
            raise BenchError(_timed_out(self.name, command, exc.timeout)) from None

    def put(self, local, remote):
        self.mkdir(str(Path(remote).parent))
        try:
            self.connection.put(str(local), remote)
        except OSError as exc:
            raise BenchError(f"{self.name}: cannot write {remote}: {exc.strerror or exc}; check the path") from None

    def get(self, remote, local):
        Path(local).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.connection.get(remote, str(local))
        except OSError as exc:
            Path(local).unlink(missing_ok=True)  # sftp leaves an empty file behind
            raise BenchError(_unreadable(self.name, remote, exc)) from None

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
        prefix = f"cd {shlex.quote(cwd)} && " if cwd else ""
        program = shlex.quote(argv[0])
        # Without job control the background job is no group leader, so setsid
        # execs in place and $! is the server's own pid.
        result = self.run(f"{prefix}mkdir -p {shlex.quote(str(Path(log).parent))} && "
                          f"{{ command -v {program} >/dev/null || exit 127; }} && "
                          f"(setsid {command} >>{shlex.quote(log)} 2>&1 </dev/null & echo $!)", warn=True)
        if result.exited == 127:
            raise BenchError(_cannot_start(self.name, argv[0], "not found"))
        if not result.ok:
            raise BenchError(_failure(self.name, command, result))
        return int(result.stdout.split()[-1])

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


SUDO_PASSWORD_VARIABLE = "BENCH_SUDO_PASSWORD"


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
                   sudo_password=os.environ.get(SUDO_PASSWORD_VARIABLE))
