"""Nginx, the lab's baseline: a config of the run's own, started in the foreground, stopped with ``-s quit``.

It never touches the system's nginx service or /etc/nginx: pid, logs and every temp path
live in the cell's folder on the server host. It has no variant: it serves the payload's file.
"""
from __future__ import annotations

import re
import shlex
import time
from pathlib import Path

from bench.errors import BenchError
from bench.hosts import Host
from bench.hosts.base import command_failed
from bench.hosts.scripts import TERM
from bench.records import Cell, CellRecord, Variant

from ..names import is_address
from .core import payload_name
from .kind import REJECTED, Fact, Launch, Place

TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
# What a path in nginx.conf may hold: nothing nginx would read as syntax (space, ;, {, }, quotes, $, #).
SAFE_PATH = re.compile(r"/[A-Za-z0-9._/+@=,:~-]*")
SAFE_NAME = re.compile(r"[A-Za-z0-9._-]+")


def render_config(*, workdir: str, www: str, filename: str, interface: str, port: int,
                  backlog: int, workers: int, connections: int, cpus: tuple[int, ...] = (),
                  access_log: str | None = None) -> str:
    """nginx.conf for one cell: ``workers`` processes sharing one listening socket.

    With ``cpus``, worker i is pinned to cpus[i % len(cpus)], as the Twisted server's --cpus does.
    With ``access_log`` (a file), every request is logged there; else nothing is.
    """
    check_config_values(workdir=workdir, www=www, filename=filename, interface=interface, port=port,
                        backlog=backlog, workers=workers, connections=connections, cpus=cpus, access_log=access_log)
    temp = "\n".join(f"    {name}_temp_path {workdir}/temp/{name};" for name in TEMP_PATHS)
    return f"""\
# Rendered by the benchmark lab for one cell; started with -c and stopped with -s quit.
daemon off;
master_process on;
worker_processes {workers};
{cpu_affinity(workers, cpus)}worker_rlimit_nofile {2 * connections + 64};
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;

events {{
    worker_connections {connections};
}}

http {{
    access_log {access_log or 'off'};
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    keepalive_timeout 65;
    types {{ text/html html; }}
    default_type text/html;
{temp}

    server {{
        listen {f"[{interface}]" if ":" in interface else interface}:{port} backlog={backlog};
        root {www};
        location / {{
            try_files /{filename} =404;
        }}
    }}
}}
"""


def check_config_values(*, workdir, www, filename, interface, port, backlog, workers, connections, cpus,
                        access_log) -> None:
    """Refuse, before rendering, any value that would not be one plain token in nginx.conf."""
    for name, path in (("work folder", workdir), ("www folder", www), ("access log", access_log)):
        if path is not None and not (isinstance(path, str) and SAFE_PATH.fullmatch(path)):
            raise BenchError(f"nginx.conf cannot take {name} {path!r}: use an absolute path of letters, digits and ._/-")
    if not (isinstance(filename, str) and SAFE_NAME.fullmatch(filename)):
        raise BenchError(f"nginx.conf cannot take the file name {filename!r}")
    if not (isinstance(interface, str) and is_address(interface)):
        raise BenchError(f"nginx.conf cannot take the interface {interface!r}: give an IP address or a hostname")
    for name, value, low, high in (("port", port, 1, 65535), ("backlog", backlog, 1, 2**31 - 1),
                                   ("workers", workers, 1, 4096), ("connections", connections, 1, 2**20)):
        if type(value) is not int or not low <= value <= high:
            raise BenchError(f"nginx.conf cannot take {name} {value!r}: choose {low} to {high}")
    if any(type(cpu) is not int or not 0 <= cpu < 4096 for cpu in cpus):
        raise BenchError(f"nginx.conf cannot take the CPUs {cpus!r}")


def cpu_affinity(workers: int, cpus: tuple[int, ...]) -> str:
    """The ``worker_cpu_affinity`` line (one bitmask per worker, CPU 0 rightmost), or "" without cpus."""
    if not cpus:
        return ""
    masks = " ".join(format(1 << cpus[i % len(cpus)], "b") for i in range(workers))
    return f"worker_cpu_affinity {masks};\n"


def version(host: Host, binary: str = "nginx") -> str | None:
    result = host.run(f"{shlex.quote(binary)} -v", warn=True)
    text = (result.stderr or result.stdout).strip()
    return text.split("/", 1)[-1] if result.ok and text else None


def find(host: Host) -> str:
    for candidate in ("nginx", "/usr/sbin/nginx"):
        if host.run(f"command -v {candidate}", warn=True).ok:
            return candidate
    raise BenchError(f"nginx is not installed on {host}: run `inv setup` (or apt-get install nginx-light), or pass --servers twisted")


def check_script(binary: str, conf: str, workdir: str) -> str:
    """Shell lines that make the temp folders, clear a stale pid file and check the config (exit REJECTED)."""
    temps = " ".join(shlex.quote(f"{workdir}/temp/{name}") for name in TEMP_PATHS)
    check = shlex.join([binary, "-t", "-q", "-c", conf, "-e", f"{workdir}/error.log"])
    return (f"mkdir -p {temps} && rm -f {shlex.quote(pid_file(workdir))} || exit\n"
            f"{check} || exit {REJECTED}\n")


def command(binary: str, conf: str, workdir: str) -> list[str]:
    """nginx in the foreground with the cell's config: its master's pid is the server's."""
    return [binary, "-c", conf, "-e", f"{workdir}/error.log"]


def pid_file(workdir: str) -> str:
    """nginx writes it once its sockets listen (see render_config): the sign it is up."""
    return f"{workdir}/nginx.pid"


def quit_command(binary: str, conf: str, workdir: str) -> str:
    return shlex.join([binary, "-s", "quit", "-c", conf, "-e", f"{workdir}/error.log"]) + " >/dev/null 2>&1"


def rejected(host: Host, result) -> str:
    said = (result.stderr or result.stdout).strip().splitlines() or ["no output"]
    return f"nginx rejects its config on {host}: {said[-1]}"


def start(host: Host, binary: str, conf: str, workdir: str) -> int:
    """Check the config, then start nginx in the foreground; return the master's pid."""
    check = host.run(check_script(binary, conf, workdir), warn=True)
    if check.exited == REJECTED:
        raise BenchError(rejected(host, check))
    if not check.ok:
        raise BenchError(command_failed(str(host), "mkdir", check))
    return host.start(command(binary, conf, workdir), log=f"{workdir}/nginx.out")


def stop(host: Host, binary: str, conf: str, workdir: str, pid: int, timeout: float = 10.0) -> None:
    """Graceful ``-s quit`` first; the master's pid is killed if it does not leave in time."""
    host.run(quit_command(binary, conf, workdir), warn=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not host.alive(pid):
            return
        time.sleep(0.05)
    host.stop(pid, timeout=2.0)


class Nginx:
    """The kind: one variant, its distribution's package, its config rendered per cell."""

    name, display, setup = "nginx", "Nginx", ("nginx",)

    def find(self, host: Host, options, say) -> str:
        return find(host)

    def variants(self, options, found) -> list[Variant]:
        return [Variant()]

    def workers(self, variant: Variant, workers: int) -> int:
        return workers

    def launch(self, cell: Cell, place: Place, found: str | None) -> Launch:
        if not found:
            raise BenchError("nginx is not installed on the server host: run `inv setup`")
        conf = f"{place.folder}/nginx.conf"
        text = render_config(workdir=place.folder, www=place.www, filename=payload_name(cell.payload),
                             interface=place.interface, port=place.port, backlog=place.backlog, workers=cell.workers,
                             connections=max(1024, cell.concurrency + 64), cpus=place.cpus,
                             access_log=f"{place.folder}/access.log" if place.access_log else None)
        collect = {conf: "nginx.conf"}
        if place.access_log:
            collect[f"{place.folder}/access.log"] = "nginx-access.log"
        return Launch(argv=command(found, conf, place.folder), ready=f"[ -s {shlex.quote(pid_file(place.folder))} ]",
                      waiting_for="no pid file", command=f"{found} -c {conf}", log=f"{place.folder}/error.log",
                      output=f"{place.folder}/nginx.out", files={conf: text},
                      check=check_script(found, conf, place.folder),
                      stop=((quit_command(found, conf, place.folder), 10.0), (TERM, 2.0)), collect=collect,
                      config="nginx.conf")

    def collected(self, cell: Cell, log: Path | None, record: CellRecord) -> None:
        """Its error log says nothing the record keeps."""

    def facts(self, found: str, variants: list[Variant]) -> dict[str, Fact]:
        return {"nginx": Fact(f"{shlex.quote(found)} -v 2>&1", lambda said: said.split("/", 1)[-1] or None)}


KIND = Nginx()
