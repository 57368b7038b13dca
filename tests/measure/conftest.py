"""Fixtures of the measure tests: a real nginx on loopback."""
import shutil
import socket
import tempfile
import time
from pathlib import Path

import pytest

from bench.hosts import LocalHost


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_listening(host: LocalHost, pid: int, port: int, log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not host.alive(pid):
            pytest.fail(f"nginx exited: {log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail("nginx did not listen within 10 s")


@pytest.fixture(scope="module")
def nginx():
    """nginx on a free loopback port, logging how many requests each connection carried."""
    # Its workers run as nobody: the folder must be world-readable, unlike pytest's tmp_path.
    root = Path(tempfile.mkdtemp(prefix="loadgen-nginx-"))
    root.chmod(0o755)
    (root / "index.html").write_bytes(b"<html>Hello, world! [Nginx      ]</html>")
    (root / "index.html").chmod(0o644)
    port = _free_port()
    temp_paths = "".join(f"{kind}_temp_path {root}/{kind}_temp; " for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (root / "nginx.conf").write_text(f"""
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log;
events {{ worker_connections 1024; }}
http {{
    {temp_paths}
    log_format requests '$connection_requests $status';
    access_log {root}/access.log requests;
    server {{ listen 127.0.0.1:{port}; root {root}; }}
}}
""")
    host = LocalHost()
    log = root / "nginx.out"
    pid = host.start(["nginx", "-c", f"{root}/nginx.conf", "-e", f"{root}/error.log", "-g", "daemon off;"], str(log))
    try:
        _wait_listening(host, pid, port, log)
        yield f"http://127.0.0.1:{port}/", root / "access.log"
    finally:
        host.stop(pid)
        shutil.rmtree(root)
