"""Helpers the tests share: free ports and real runs made the way `inv bench` makes them."""
import socket
import threading
import time
from pathlib import Path

from bench.measure import matrix
from bench.measure.campaign import Options, run_campaign
from bench.standalone.server import read_events

# Short loads: one-second runs of wrk, no warm-up.
TINY = {"keepalive": {"duration": 1, "concurrency": 8, "threads": 1},
        "close": {"duration": 1, "concurrency": 4, "threads": 1}}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bench_run(reports: Path, name: str, *, workers=(1,), repeats: int = 2, servers=("nginx", "twisted")) -> Path:
    """A real run folder: Nginx and Twisted (CPython, fixed), 40 bytes, keep-alive, measured by wrk."""
    options = Options(servers=servers, interpreters=("cpython",), modes=("shared",), resources=("fixed",),
                      payloads=(40,), keepalive=(True,), workers=tuple(workers), repeats=repeats,
                      statistics={"max_repeats": repeats}, loadgen="wrk", profile_name="tiny", profile=TINY,
                      port=free_port(), reports=str(reports), name=name)
    return run_campaign(options, say=lambda line: None)


def twisted_cell(**change) -> matrix.Cell:
    """One cell: Twisted on CPython, shared socket, 2 workers, fixed 40 bytes, keep-alive, tiny load."""
    settings = dict(servers=("twisted",), interpreters=("cpython",), modes=("shared",), resources=("fixed",),
                    payloads=(40,), keepalive=(True,), workers=(2,), loadgen="wrk", profile=TINY)
    (cell,) = matrix.plan(**{**settings, **change})
    return cell


def once_listening(log: Path, delay: float, act) -> threading.Thread:
    """Start a thread that waits for the server's "listening" event in ``log``, then ``delay``
    seconds more (the load is running by then), then calls ``act(events)``."""
    def wait():
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            events = read_events(log.read_text()) if log.exists() else []
            if any(e["event"] == "listening" for e in events):
                time.sleep(delay)
                act(events)
                return
            time.sleep(0.02)

    thread = threading.Thread(target=wait)
    thread.start()
    return thread
