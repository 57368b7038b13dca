"""server.py's command line: the flags the harness passes, checked before anything starts.

It ships to the lab host beside server.py.
"""
from __future__ import annotations

import argparse
import os

# As in server.py: a sibling by plain import when run from the shipped folder.
if __package__:
    from . import affinity, payload
else:
    import affinity
    import payload

MODES = ("shared", "reuseport", "single")
RESOURCES = ("fixed", "file")


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="server.py", description="Twisted Web server under test.")
    parser.add_argument("--port", type=int, required=True, help="TCP port (0: any free port)")
    parser.add_argument("--interface", required=True, help="address to bind")
    parser.add_argument("--backlog", type=int, required=True, help="listen backlog")
    parser.add_argument("--mode", choices=MODES, required=True, help="how workers share the port")
    parser.add_argument("--workers", type=int, required=True, help="worker processes (1 in single mode)")
    parser.add_argument("--resource", choices=RESOURCES, required=True, help="a constant body or a static file")
    parser.add_argument("--payload", type=int, required=True, help="body bytes of the fixed resource")
    parser.add_argument("--file", required=True, help="the file the file resource serves (ignored by fixed)")
    parser.add_argument("--log", action="store_true", help="write the access log to stderr")
    parser.add_argument("--stats-interval", type=float, default=1.0, help="seconds between request-count events")
    parser.add_argument("--cpus", default="", help="pin worker i to the i-th of these CPUs, round-robin (e.g. 0,2-3)")
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    return parser


def parse_options(argv: list[str]) -> argparse.Namespace:
    """Parse and check the command line; a bad one exits 2 with one line on stderr."""
    parser = _build_parser()
    options = parser.parse_args(argv)
    try:
        payload.check_payload_size(options.payload)
    except ValueError as exc:
        parser.error(f"--payload: {exc}")
    if not 0 <= options.port <= 65535:
        parser.error(f"--port {options.port} is out of range: pick 0 to 65535")
    if options.backlog < 1:
        parser.error("--backlog must be at least 1")
    if options.stats_interval <= 0:
        parser.error("--stats-interval must be more than 0 seconds")
    if options.mode == "single" and options.workers != 1:
        parser.error("--mode single serves from one process: pass --workers 1 or pick --mode shared")
    if options.workers < 1:
        parser.error("--workers must be at least 1")
    if options.resource == "file":
        if not os.path.isfile(options.file) or not os.access(options.file, os.R_OK):
            parser.error(f"--file {options.file} is not a readable file: write the payload there first")
        options.file = os.path.abspath(options.file)
    options.cpus = _checked_cpus(parser, options.cpus)
    return options


def _checked_cpus(parser: argparse.ArgumentParser, text: str) -> tuple:
    """``--cpus`` as a tuple of CPUs this process may use; () without the flag."""
    if not text:
        return ()
    try:
        cpus = affinity.parse_cpu_list(text)
    except ValueError as exc:
        parser.error(f"--cpus: {exc}")
    try:
        allowed = affinity.allowed_cpus()
    except OSError as exc:
        parser.error(f"--cpus: cannot read this process's CPU affinity ({exc.strerror}); drop --cpus")
    missing = [cpu for cpu in cpus if cpu not in allowed]
    if missing:
        parser.error(f"--cpus {text}: CPU {','.join(map(str, missing))} is not available here "
                     f"(this host allows {','.join(map(str, sorted(allowed)))}): pick from those")
    return cpus
