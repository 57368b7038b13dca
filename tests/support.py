"""Helpers the tests share: free ports and real runs made the way `inv bench` makes them."""
import socket
from pathlib import Path

from bench.campaign import Options, run_campaign

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
