"""The Nginx baseline: a config of the run's own, started in the foreground, stopped with ``-s quit``.

It never touches the system's nginx service or /etc/nginx: pid, logs and every
temp path live in the cell's folder on the server host.
"""
from __future__ import annotations

import time

from bench.errors import BenchError
from bench.hosts import Host

TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def render_config(*, workdir: str, www: str, filename: str, interface: str, port: int,
                  backlog: int, workers: int, connections: int, cpus: tuple[int, ...] = ()) -> str:
    """nginx.conf for one cell: ``workers`` processes sharing one listening socket.

    With ``cpus``, worker i is pinned to cpus[i % len(cpus)], as the Twisted server's --cpus does.
    """
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
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    keepalive_timeout 65;
    types {{ text/html html; }}
    default_type text/html;
{temp}

    server {{
        listen {interface}:{port} backlog={backlog};
        root {www};
        location / {{
            try_files /{filename} =404;
        }}
    }}
}}
"""


def cpu_affinity(workers: int, cpus: tuple[int, ...]) -> str:
    """The ``worker_cpu_affinity`` line (one bitmask per worker, CPU 0 rightmost), or "" without cpus."""
    if not cpus:
        return ""
    masks = " ".join(format(1 << cpus[i % len(cpus)], "b") for i in range(workers))
    return f"worker_cpu_affinity {masks};\n"


def version(host: Host, binary: str = "nginx") -> str | None:
    result = host.run(f"{binary} -v", warn=True)
    text = (result.stderr or result.stdout).strip()
    return text.split("/", 1)[-1] if result.ok and text else None


def find(host: Host) -> str:
    for candidate in ("nginx", "/usr/sbin/nginx"):
        if host.run(f"command -v {candidate}", warn=True).ok:
            return candidate
    raise BenchError(f"nginx is not installed on {host}: run `inv setup` (or apt-get install nginx-light), or pass --servers twisted")


def start(host: Host, binary: str, conf: str, workdir: str) -> int:
    """Check the config, then start nginx in the foreground; return the master's pid."""
    for name in TEMP_PATHS:
        host.mkdir(f"{workdir}/temp/{name}")
    check = host.run(f"{binary} -t -q -c {conf} -e {workdir}/error.log", warn=True)
    if not check.ok:
        raise BenchError(f"nginx rejects its config on {host}: {(check.stderr or check.stdout).strip().splitlines()[-1]}")
    return host.start([binary, "-c", conf, "-e", f"{workdir}/error.log"], log=f"{workdir}/nginx.out")


def stop(host: Host, binary: str, conf: str, workdir: str, pid: int, timeout: float = 10.0) -> None:
    """Graceful ``-s quit`` first; the master's pid is killed if it does not leave in time."""
    host.run(f"{binary} -s quit -c {conf} -e {workdir}/error.log", warn=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not host.alive(pid):
            return
        time.sleep(0.05)
    host.stop(pid, timeout=2.0)
