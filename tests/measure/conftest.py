"""Fixtures of the measure tests: a real nginx on loopback, the real wrk2 built from its pinned archive."""
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from support import MIRROR_VARIABLE, free_port, project_config, wait_accepting, wrk2_archive_problem

from bench.config import plain
from bench.hosts import LocalHost
from bench.setup.provision import setup_host


@pytest.fixture(scope="module")
def nginx():
    """nginx on a free loopback port, logging how many requests each connection carried."""
    # Its workers run as nobody: the folder must be world-readable, unlike pytest's tmp_path.
    root = Path(tempfile.mkdtemp(prefix="loadgen-nginx-"))
    root.chmod(0o755)
    (root / "index.html").write_bytes(b"<html>Hello, world! [Nginx      ]</html>")
    (root / "index.html").chmod(0o644)
    port = free_port(1)
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
        wait_accepting(port, lambda: host.alive(pid), "nginx", timeout=10, log=log)
        yield f"http://127.0.0.1:{port}/", root / "access.log"
    finally:
        host.stop(pid)
        shutil.rmtree(root)


@pytest.fixture(scope="session")
def wrk2(tmp_path_factory) -> str:
    """The wrk2 binary `inv setup --mirror` built from its pinned archive, in a prefix of its own."""
    mirror = os.environ.get(MIRROR_VARIABLE)
    problem = wrk2_archive_problem(mirror)
    if problem:
        pytest.skip(problem)
    root = tmp_path_factory.mktemp("wrk2")
    settings = plain(project_config().setup)
    settings.update(prefix=str(root / "prefix"), cache=str(root / "cache"), mirrors=[mirror])
    said = []
    entry = setup_host(LocalHost(), settings, only="wrk2", log=said.append)["tools"]["wrk2"]
    assert entry["source"]["kind"] == "tarball" and entry["path"].endswith("/bin/wrk2"), said
    # its version is its pinned commit, not the "wrk 4.0.0" it says of itself
    assert entry["version"] == settings["wrk2"]["version"] and "wrk 4.0.0" in entry["version_output"], entry
    return entry["path"]
