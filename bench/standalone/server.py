"""The Twisted Web server under test, shipped alone to a lab host.

Only the standard library and Twisted are imported, and the syntax is Python 3.9's,
so the file runs under Debian's PyPy 3.9 (Twisted 26.4) and CPython 3.11 alike:

    python server.py [--port 8080] [--interface 127.0.0.1] [--backlog 8192]
                     [--mode shared|reuseport|single] [--workers N]
                     [--resource fixed|file] [--payload BYTES] [--file PATH]
                     [--log] [--stats-interval SECONDS]

Modes:
  shared     the master binds and listens, then N workers adopt that one socket (the seed's way);
  reuseport  each of N workers binds its own SO_REUSEPORT socket and the kernel spreads connections;
  single     one process binds and serves.

What happened is written to stdout as JSON lines, one object per line with an
``event`` key: ``ready`` (a worker), ``listening`` (the master, once every worker
serves), ``stats`` (a worker's request count), ``worker-exit``, ``worker-died``
(the master, when a worker exits without being asked) and ``stopped`` (the master,
after all workers are gone). :func:`read_events` and :func:`worker_counts` parse them
back. Errors are one line on stderr with exit code 2. SIGTERM or SIGINT to the master
stops every worker; a worker whose master is gone stops on its own.
"""
from __future__ import annotations

import argparse
import errno
import json
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
from twisted.web import resource, server, static

MODES = ("shared", "reuseport", "single")
RESOURCES = ("fixed", "file")
MAX_PAYLOAD = 64 * 1024 * 1024

# File descriptors inside a worker, set up by the master's spawnProcess.
MASTER_FD = 3  # read end of a pipe the master holds: end-of-file means the master is gone
READY_FD = 4  # write end of a pipe on which the worker tells the master it serves
LISTEN_FD = 5  # the master's listening socket (shared mode)

STOP_GRACE = 5.0  # seconds workers get to exit after SIGTERM before SIGKILL

_HEAD = b"<html>Hello, world!"
_TAIL = b"</html>\n"
_FILLER = b" Twisted Web and Nginx serve these same bytes."


# -- pure helpers -------------------------------------------------------------------


def check_payload_size(size: int) -> None:
    """Raise ValueError, saying what to do, unless ``size`` is 1 byte .. 64 MiB."""
    if not 1 <= size <= MAX_PAYLOAD:
        raise ValueError(f"payload of {size} bytes is out of range: pick 1 to {MAX_PAYLOAD} bytes")


def payload_bytes(size: int) -> bytes:
    """The body every server serves: printable, deterministic, exactly ``size`` bytes.

    It reads ``<html>Hello, world! ...</html>`` like the seed's page, padded or cut
    to ``size``, and always ends with a newline.
    """
    check_payload_size(size)
    shortest = len(_HEAD) + len(_TAIL)
    if size < shortest:
        return (_HEAD + _FILLER)[: size - 1] + b"\n"
    padding = size - shortest
    filler = _FILLER * (padding // len(_FILLER) + 1)
    return _HEAD + filler[:padding] + _TAIL


def read_events(text: str) -> list[dict]:
    """The JSON event objects in a server log; other lines (access log, errors) are skipped."""
    events = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and "event" in event:
            events.append(event)
    return events


def worker_counts(events: list[dict]) -> dict[int, int]:
    """Worker index -> the last request count it reported (``stats`` or ``worker-exit``)."""
    counts = {}
    for event in events:
        if event.get("event") in ("stats", "worker-exit"):
            counts[int(event["worker"])] = int(event["requests"])
    return counts


def address_family(interface: str) -> int:
    """AF_INET6 for an IPv6 address, else AF_INET."""
    return socket.AF_INET6 if ":" in interface else socket.AF_INET


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="server.py", description="Twisted Web server under test.")
    parser.add_argument("--port", type=int, default=8080, help="TCP port (0: any free port)")
    parser.add_argument("--interface", default="127.0.0.1", help="address to bind")
    parser.add_argument("--backlog", type=int, default=8192, help="listen backlog")
    parser.add_argument("--mode", choices=MODES, default="shared", help="how workers share the port")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: the number of CPUs)")
    parser.add_argument("--resource", choices=RESOURCES, default="fixed", help="a constant body or a static file")
    parser.add_argument("--payload", type=int, default=40, help="body bytes of the fixed resource")
    parser.add_argument("--file", default=None, help="the file the file resource serves (ignored by fixed)")
    parser.add_argument("--log", action="store_true", help="write the access log to stderr")
    parser.add_argument("--stats-interval", type=float, default=1.0, help="seconds between request-count events")
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    return parser


def parse_options(argv: list[str]) -> argparse.Namespace:
    """Parse and check the command line; a bad one exits 2 with one line on stderr."""
    parser = _build_parser()
    options = parser.parse_args(argv)
    try:
        check_payload_size(options.payload)
    except ValueError as exc:
        parser.error(f"--payload: {exc}")
    if not 0 <= options.port <= 65535:
        parser.error(f"--port {options.port} is out of range: pick 0 to 65535")
    if options.backlog < 1:
        parser.error("--backlog must be at least 1")
    if options.stats_interval <= 0:
        parser.error("--stats-interval must be more than 0 seconds")
    if options.mode == "single":
        if options.workers not in (None, 1):
            parser.error("--mode single serves from one process: drop --workers or pick --mode shared")
        options.workers = 1
    elif options.workers is None:
        options.workers = os.cpu_count() or 1
    if options.workers < 1:
        parser.error("--workers must be at least 1")
    if options.resource == "file":
        if options.file is None:
            parser.error("--resource file needs --file PATH (the payload file to serve)")
        if not os.path.isfile(options.file) or not os.access(options.file, os.R_OK):
            parser.error(f"--file {options.file} is not a readable file: write the payload there first")
        options.file = os.path.abspath(options.file)
    return options


def worker_argv(options: argparse.Namespace, index: int, port: int) -> list[str]:
    """The command line that starts worker ``index`` of this server."""
    argv = [
        sys.executable, os.path.abspath(__file__),
        "--port", str(port), "--interface", options.interface, "--backlog", str(options.backlog),
        "--mode", options.mode, "--workers", str(options.workers),
        "--resource", options.resource, "--payload", str(options.payload),
        "--stats-interval", repr(options.stats_interval), "--worker", str(index),
    ]
    if options.file is not None:
        argv += ["--file", options.file]
    if options.log:
        argv.append("--log")
    return argv


# -- what is served -------------------------------------------------------------------


class FixedPayload(resource.Resource):
    """Every request gets the same body; Twisted's default Content-Type is text/html."""

    isLeaf = True

    def __init__(self, body: bytes):
        resource.Resource.__init__(self)
        self.body = body

    def render_GET(self, request):
        return self.body


class CountingSite(server.Site):
    """A Site that counts the requests it answered, writing the access log only when asked."""

    def __init__(self, root, access_log: bool):
        server.Site.__init__(self, root)
        self.access_log = access_log
        self.requests = 0

    def log(self, request):
        self.requests += 1
        if self.access_log:
            server.Site.log(self, request)


def make_site(options: argparse.Namespace) -> CountingSite:
    """The Site for ``--resource``: a fixed body, or the ``--file`` at any path."""
    if options.resource == "file":
        root = static.File(options.file)
        root.isLeaf = True  # "/" and every other path is the file itself
    else:
        root = FixedPayload(payload_bytes(options.payload))
    return CountingSite(root, access_log=options.log)


# -- edges: events, logging, sockets ----------------------------------------------------


def emit(event: str, **fields) -> None:
    """Write one event line to stdout in a single write, so processes never interleave."""
    fields = dict(event=event, **fields)
    os.write(1, (json.dumps(fields, separators=(",", ":")) + "\n").encode())


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

    def __init__(self, site: CountingSite, worker: int):
        self.site = site
        self.worker = worker
        self.reported = None

    def report(self, final: bool = False) -> None:
        requests = self.site.requests
        if final or requests != self.reported:
            emit("stats", worker=self.worker, pid=os.getpid(), requests=requests, time=time.time())
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


def serve(reactor, site: CountingSite, listen_fd: int, options, worker: int, on_ready) -> None:
    """Adopt the listening socket, report stats, run until stopped, then report the end."""
    reactor.adoptStreamPort(listen_fd, address_family(options.interface), site)
    os.close(listen_fd)  # the port holds its own duplicate
    stats = RequestStats(site, worker)
    LoopingCall(stats.report).start(options.stats_interval, now=False)
    reactor.callWhenRunning(on_ready)
    reactor.run()
    stats.report(final=True)
    emit("worker-exit", worker=worker, pid=os.getpid(), requests=site.requests)


def run_worker(options: argparse.Namespace) -> int:
    """A worker: serve on the shared socket or on an own SO_REUSEPORT one."""
    from twisted.internet import reactor

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C reaches the master, which stops us
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
        emit("ready", worker=options.worker, pid=os.getpid())
        os.write(READY_FD, b"ready\n")
        os.close(READY_FD)

    serve(reactor, make_site(options), listen_fd, options, options.worker, ready)
    return 0


def run_single(options: argparse.Namespace) -> int:
    """One process binds and serves; it is worker 0 and its own master."""
    from twisted.internet import reactor

    handle_sigint()
    start_logging(options.log)
    try:
        sock = open_listener(options.interface, options.port, options.backlog, reuseport=False)
    except OSError as exc:
        return fail(listen_error(options, exc))
    port = sock.getsockname()[1]

    def ready():
        emit("ready", worker=0, pid=os.getpid())
        emit("listening", pid=os.getpid(), mode="single", port=port, workers=1,
             interpreter=_interpreter(), twisted=twisted.__version__)

    serve(reactor, make_site(options), sock.detach(), options, 0, ready)
    emit("stopped", pid=os.getpid())
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
            emit("listening", pid=os.getpid(), mode=self.options.mode, port=self.port,
                 workers=self.options.workers, interpreter=_interpreter(), twisted=twisted.__version__)

    def worker_ended(self, worker: WorkerProcess, status) -> None:
        del self.live[worker.index]
        if not self.stopping:
            emit("worker-died", worker=worker.index, pid=worker.pid, status=describe_exit(status),
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
    emit("stopped", pid=os.getpid())
    return master.exit_code


def main(argv: list[str] | None = None) -> int:
    options = parse_options(sys.argv[1:] if argv is None else argv)
    if options.worker is not None:
        return run_worker(options)
    if options.mode == "single":
        return run_single(options)
    return run_master(options)


if __name__ == "__main__":
    sys.exit(main())
