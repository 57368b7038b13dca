"""The Nginx baseline: a real nginx, started and stopped on a config of our own."""
import shutil
import tempfile
import time
from pathlib import Path

import psutil
import pytest
from support import free_port

from bench.errors import BenchError
from bench.hosts import LocalHost
from bench.measure import nginx
from bench.measure.runner import digest, payload_name
from bench.standalone import probe
from bench.standalone.server import payload_bytes

pytestmark = pytest.mark.skipif(not any(
    __import__("shutil").which(n) for n in ("nginx", "/usr/sbin/nginx")), reason="nginx is not installed")


def test_config_keeps_everything_in_the_cell_folder():
    text = nginx.render_config(workdir="/w/cell", www="/w/www", filename="payload-40.html",
                               interface="127.0.0.1", port=8080, backlog=8192, workers=3, connections=4096)
    assert "worker_processes 3;" in text
    assert "listen 127.0.0.1:8080 backlog=8192;" in text
    assert "pid /w/cell/nginx.pid;" in text and "error_log /w/cell/error.log" in text
    assert "access_log off;" in text and "keepalive_requests 1000000;" in text
    for name in nginx.TEMP_PATHS:
        assert f"{name}_temp_path /w/cell/temp/{name};" in text
    assert "/etc/nginx" not in text and "include" not in text


@pytest.mark.parametrize("size", [40, 10000])
def test_nginx_serves_the_payload_and_leaves_no_process(size):
    # nginx's workers run as nobody: the folder must be reachable by all, unlike pytest's tmp_path.
    tmp_path = Path(tempfile.mkdtemp(prefix="twisted-lab-nginx-test-"))
    host = LocalHost()
    www = tmp_path / "www"
    www.mkdir()
    (www / payload_name(size)).write_bytes(payload_bytes(size))
    tmp_path.chmod(0o755)
    www.chmod(0o755)
    port = free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(nginx.render_config(workdir=str(tmp_path), www=str(www), filename=payload_name(size),
                                        interface="127.0.0.1", port=port, backlog=1024, workers=2, connections=1024))
    binary = nginx.find(host)
    pid = nginx.start(host, binary, str(conf), str(tmp_path))
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 10
        answer = probe.fetch(url)
        while "error" in answer and time.monotonic() < deadline:
            time.sleep(0.05)
            answer = probe.fetch(url)
        assert answer["status"] == 200
        assert answer["headers"]["content-length"] == str(size)
        assert answer["sha256"] == digest(size)
        workers = psutil.Process(pid).children()
        assert len(workers) == 2
    finally:
        nginx.stop(host, binary, str(conf), str(tmp_path), pid)
    shutil.rmtree(tmp_path)
    assert not host.alive(pid)
    assert not any(psutil.pid_exists(w.pid) and w.status() != psutil.STATUS_ZOMBIE for w in workers)


def test_a_bad_config_is_one_clear_error(tmp_path):
    conf = tmp_path / "nginx.conf"
    conf.write_text("events {}\nhttp { bogus_directive on; }\n")
    host = LocalHost()
    with pytest.raises(BenchError, match="nginx rejects its config"):
        nginx.start(host, nginx.find(host), str(conf), str(tmp_path))
