"""The Twisted Web server under test, shipped with its sibling modules to a lab host.

Only the standard library and Twisted are imported, and the syntax is Python 3.9's,
so the file runs under Debian's PyPy 3.9 (Twisted 26.4) and CPython 3.11 alike:

    python server.py --port PORT --interface ADDRESS --backlog N
                     --mode shared|reuseport|single --workers N
                     --resource fixed|file --payload BYTES --file PATH
                     [--log] [--stats-interval SECONDS] [--cpus LIST]

The harness gives every flag but the last three; --cpus 0,2-3 pins worker i to the list's
i-th CPU, round-robin (see affinity.py). Its sibling modules ship beside it (SHIPPED).

Modes:
  shared     the master binds and listens, then N workers adopt that one socket (the seed's way);
  reuseport  each of N workers binds its own SO_REUSEPORT socket and the kernel spreads connections;
  single     one process binds and serves.

What happened is written to stdout as JSON event lines (see events.py). Errors are
one line on stderr with exit code 2. SIGTERM or SIGINT to the master
stops every worker; a worker whose master is gone stops on its own.
"""
from __future__ import annotations

import argparse
import errno
import os
import platform
import signal
import socket
import sys
import time

import twisted
from twisted.internet import error, protocol
from twisted.internet.defer import Deferred
from twisted.internet.main import CONNECTION_DONE
from twisted.internet.task import LoopingCall
from twisted.logger import (
    FilteringLogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    globalLogBeginner,
    textFileLogObserver,
)

# On the lab host the shipped files sit in a plain folder, which `python server.py` puts on
# sys.path; imported or run with -m, the same files are this package's modules.
if __package__:
    from . import affinity, command_line, events, payload
else:
    import affinity
    import command_line
    import events
    import payload


# File descriptors inside a worker, set up by the master's spawnProcess.
MASTER_FD = 3  # read end of a pipe the master holds: end-of-file means the master is gone
READY_FD = 4  # write end of a pipe on which the worker tells the master it serves
LISTEN_FD = 5  # the master's listening socket (shared mode)

STOP_GRACE = 5.0  # seconds workers get to exit after SIGTERM before SIGKILL


# -- pure helpers -------------------------------------------------------------------


def address_family(interface: str) -> int:
    """AF_INET6 for an IPv6 address, else AF_INET."""
    return socket.AF_INET6 if ":" in interface else socket.AF_INET


def worker_argv(options: argparse.Namespace, index: int, port: int) -> list[str]:
    """The command line that starts worker ``index`` of this server."""
    argv = [
        sys.executable, os.path.abspath(__file__),
        "--port", str(port), "--interface", options.interface, "--backlog", str(options.backlog),
        "--mode", options.mode, "--workers", str(options.workers),
        "--resource", options.resource, "--payload", str(options.payload), "--file", options.file,
        "--stats-interval", repr(options.stats_interval), "--worker", str(index),
    ]
    if options.log:
        argv.append("--log")
    if options.cpus:
        argv += ["--cpus", ",".join(map(str, options.cpus))]
    return argv


# -- edges: logging, sockets ----------------------------------------------------


def start_logging(access_log: bool) -> None:
    """Twisted's log to stderr: warnings and errors, plus the access log with ``--log``."""
    level = LogLevel.info if access_log else LogLevel.warn
    observer = FilteringLogObserver(textFileLogObserver(sys.stderr), [LogLevelFilterPredicate(level)])
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)


def open_listener(interface: str, port: int, backlog: int, reuseport: bool) -> socket.socket:
    """A non-blocking listening TCP socket, ready for ``adoptStreamPort``."""
    sock = socket.socket(address_family(interface), socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuseport:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((interface, port))
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def listen_error(options: argparse.Namespace, exc: OSError) -> str:
    """One line saying why the port could not be had and what to do."""
    where = f"{options.interface}:{options.port}"
    if exc.errno == errno.EADDRINUSE:
        return f"port {where} is in use: stop what holds it or pick another --port"
    return f"cannot listen on {where}: {exc.strerror or exc}; check --interface and --port"


def handle_sigint() -> None:
    """Let Twisted stop on SIGINT even when a shell started us in the background with it ignored."""
    signal.signal(signal.SIGINT, signal.default_int_handler)


def fail(message: str) -> int:
    """Say ``message`` on stderr as one line; return the exit code for errors the user can fix."""
    sys.stderr.write(f"server.py: {message}\n")
    sys.stderr.flush()
    return 2


def _interpreter() -> str:
    return f"{platform.python_implementation()} {platform.python_version()}"


# -- a serving process (a worker, or the single mode's only process) -----------------


class RequestStats:
    """Reports a site's request count as ``stats`` events: when it changed, and a final one."""

    def __init__(self, site: payload.CountingSite, worker: int):
        self.site = site
        self.worker = worker
        self.reported = None

    def report(self, final: bool = False) -> None:
        requests = self.site.requests
        if final or requests != self.reported:
            events.emit("stats", worker=self.worker, pid=os.getpid(), requests=requests, time=time.time())
            self.reported = requests


class MasterWatch:
    """Reads the pipe the master holds open; its end of file means the master is gone."""

    def __init__(self, fd: int, on_gone):
        self.fd = fd
        self.on_gone = on_gone
        os.set_blocking(fd, False)

    def fileno(self) -> int:
        return self.fd

    def logPrefix(self) -> str:
        return "master-watch"

    def doRead(self):
        try:
            data = os.read(self.fd, 64)
        except BlockingIOError:
            return None
        return None if data else CONNECTION_DONE

    def connectionLost(self, reason) -> None:
        self.on_gone()


def _stop(reactor) -> None:
    try:
        reactor.stop()
    except error.ReactorNotRunning:
        pass


def serve(reactor, site: payload.CountingSite, listen_fd: int, options, worker: int, on_ready) -> None:
    """Adopt the listening socket, report stats, run until stopped, then report the end."""
    reactor.adoptStreamPort(listen_fd, address_family(options.interface), site)
    os.close(listen_fd)  # the port holds its own duplicate
    stats = RequestStats(site, worker)
    LoopingCall(stats.report).start(options.stats_interval, now=False)
    reactor.callWhenRunning(on_ready)
    reactor.run()
    stats.report(final=True)
    events.emit("worker-exit", worker=worker, pid=os.getpid(), requests=site.requests)


def run_worker(options: argparse.Namespace) -> int:
    """A worker: serve on the shared socket or on an own SO_REUSEPORT one."""
    from twisted.internet import reactor

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C reaches the master, which stops us
    refused = affinity.pin_process(options.cpus, options.worker)
    if refused:
        return fail(refused)
    start_logging(options.log)
    if options.mode == "shared":
        listen_fd = LISTEN_FD
    else:
        try:
            sock = open_listener(options.interface, options.port, options.backlog, reuseport=True)
        except OSError as exc:
            return fail(listen_error(options, exc))
        listen_fd = sock.detach()
    reactor.addReader(MasterWatch(MASTER_FD, lambda: _stop(reactor)))

    def ready():
        events.emit("ready", worker=options.worker, pid=os.getpid(), **affinity.placement(options.cpus, options.worker))
        os.write(READY_FD, b"ready\n")
        os.close(READY_FD)

    serve(reactor, payload.make_site(options), listen_fd, options, options.worker, ready)
    return 0


def run_single(options: argparse.Namespace) -> int:
    """One process binds and serves; it is worker 0 and its own master."""
    from twisted.internet import reactor

    handle_sigint()
    refused = affinity.pin_process(options.cpus, 0)
    if refused:
        return fail(refused)
    start_logging(options.log)
    try:
        sock = open_listener(options.interface, options.port, options.backlog, reuseport=False)
    except OSError as exc:
        return fail(listen_error(options, exc))
    port = sock.getsockname()[1]

    def ready():
        events.emit("ready", worker=0, pid=os.getpid(), **affinity.placement(options.cpus, 0))
        events.emit("listening", pid=os.getpid(), mode="single", port=port, workers=1,
             interpreter=_interpreter(), twisted=twisted.__version__)

    serve(reactor, payload.make_site(options), sock.detach(), options, 0, ready)
    events.emit("stopped", pid=os.getpid())
    return 0


# -- the master -------------------------------------------------------------------------


class WorkerProcess(protocol.ProcessProtocol):
    """The master's view of one worker: says when it is ready and when it ends."""

    def __init__(self, master: "Master", index: int):
        self.master = master
        self.index = index
        self.ready = False
        self.pid = None

    def connectionMade(self):
        self.pid = self.transport.pid

    def childDataReceived(self, childFD, data):
        if childFD == READY_FD and not self.ready:
            self.ready = True
            self.master.worker_ready(self)

    def processEnded(self, reason):
        self.master.worker_ended(self, reason.value)

    def terminate(self, signal_name: str) -> None:
        try:
            self.transport.signalProcess(signal_name)
        except (error.ProcessExitedAlready, OSError):
            pass


def describe_exit(status) -> str:
    """'exit 2' or 'signal 9', from Twisted's ProcessDone/ProcessTerminated."""
    if getattr(status, "signal", None) is not None:
        return f"signal {status.signal}"
    return f"exit {status.exitCode}"


class Master:
    """Spawns the workers, says when all serve, reports deaths, and stops them all."""

    def __init__(self, reactor, options: argparse.Namespace, port: int, listener):
        self.reactor = reactor
        self.options = options
        self.port = port
        self.listener = listener
        self.live: dict[int, WorkerProcess] = {}
        self.listening = False
        self.stopping = False
        self.exit_code = 0
        self.all_gone = None

    def start(self) -> None:
        self.reactor.addSystemEventTrigger("before", "shutdown", self.stop_workers)
        for index in range(self.options.workers):
            self.spawn(index)

    def spawn(self, index: int) -> None:
        child_fds = {0: 0, 1: 1, 2: 2, MASTER_FD: "w", READY_FD: "r"}
        if self.listener is not None:
            child_fds[LISTEN_FD] = self.listener.fileno()
        worker = WorkerProcess(self, index)
        self.live[index] = worker
        argv = worker_argv(self.options, index, self.port)
        self.reactor.spawnProcess(worker, argv[0], argv, env=os.environ, childFDs=child_fds)

    def worker_ready(self, worker: WorkerProcess) -> None:
        if self.listening or self.stopping:
            return
        if len(self.live) == self.options.workers and all(w.ready for w in self.live.values()):
            self.listening = True
            events.emit("listening", pid=os.getpid(), mode=self.options.mode, port=self.port,
                 workers=self.options.workers, interpreter=_interpreter(), twisted=twisted.__version__)

    def worker_ended(self, worker: WorkerProcess, status) -> None:
        del self.live[worker.index]
        if not self.stopping:
            events.emit("worker-died", worker=worker.index, pid=worker.pid, status=describe_exit(status),
                 exit_code=status.exitCode, signal=status.signal)
            if not self.listening:
                code = status.exitCode
                self.exit_code = code if code else 1
                fail(f"worker {worker.index} ended during startup ({describe_exit(status)}); see its error above")
                _stop(self.reactor)
            elif not self.live:
                self.exit_code = 1
                fail("every worker died; see the worker-died events")
                _stop(self.reactor)
        if not self.live and self.all_gone is not None:
            self.all_gone.callback(None)

    def stop_workers(self):
        """SIGTERM every worker; the Deferred fires when all are gone (SIGKILL after a grace)."""
        self.stopping = True
        if not self.live:
            return None
        self.all_gone = Deferred()
        for worker in list(self.live.values()):
            worker.terminate("TERM")
        deadline = self.reactor.callLater(STOP_GRACE, self.kill_workers)
        self.all_gone.addCallback(lambda _: deadline.cancel() if deadline.active() else None)
        return self.all_gone

    def kill_workers(self) -> None:
        for worker in list(self.live.values()):
            worker.terminate("KILL")


def run_master(options: argparse.Namespace) -> int:
    """Bind (shared) or check the port (reuseport), spawn workers, run until stopped."""
    from twisted.internet import reactor

    handle_sigint()
    refused = affinity.pin_process(options.cpus, None)  # workers inherit it, then narrow to their own CPU
    if refused:
        return fail(refused)
    start_logging(options.log)
    # shared: workers adopt this socket. reuseport: it only proves the port is free
    # (one clear error here, not N in workers) and resolves --port 0.
    try:
        listener = open_listener(options.interface, options.port, options.backlog, reuseport=False)
    except OSError as exc:
        return fail(listen_error(options, exc))
    port = listener.getsockname()[1]
    if options.mode == "reuseport":
        listener.close()
        listener = None
    master = Master(reactor, options, port, listener)
    reactor.callWhenRunning(master.start)
    reactor.run()
    if listener is not None:
        listener.close()
    events.emit("stopped", pid=os.getpid())
    return master.exit_code


def main(argv: list[str] | None = None) -> int:
    options = command_line.parse_options(sys.argv[1:] if argv is None else argv)
    if options.worker is not None:
        return run_worker(options)
    if options.mode == "single":
        return run_single(options)
    return run_master(options)


if __name__ == "__main__":
    sys.exit(main())
