"""The Nginx baseline: a real nginx, started and stopped on a config of our own."""
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest
from support import free_port

from bench.errors import BenchError
from bench.hosts import LocalHost
from bench.measure.servers import digest, nginx, payload_name
from bench.standalone import probe
from bench.standalone.payload import payload_bytes

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


@pytest.mark.parametrize("workers, cpus, line", [
    (2, (1,), "worker_cpu_affinity 10 10;"),
    (2, (0, 1), "worker_cpu_affinity 1 10;"),
    (3, (0, 2), "worker_cpu_affinity 1 100 1;"),
    (1, (3, 1), "worker_cpu_affinity 1000;"),
    (2, (9,), "worker_cpu_affinity 1000000000 1000000000;"),
])
def test_config_pins_worker_i_to_cpus_i_mod_len(workers, cpus, line):
    text = nginx.render_config(workdir="/w", www="/w/www", filename="p.html", interface="127.0.0.1", port=80,
                               backlog=511, workers=workers, connections=64, cpus=cpus)
    assert [x for x in text.splitlines() if x.startswith("worker_cpu")] == [line]


def test_config_without_cpus_has_no_affinity():
    text = nginx.render_config(workdir="/w", www="/w/www", filename="p.html", interface="127.0.0.1", port=80,
                               backlog=511, workers=2, connections=64)
    assert "worker_cpu_affinity" not in text


@contextmanager
def running_nginx(size: int, workers: int, cpus: tuple[int, ...] = (), access_log: bool = False):
    """A real nginx serving a ``size``-byte payload: yields (master pid, URL, folder); gone afterwards."""
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
                                        interface="127.0.0.1", port=port, backlog=1024, workers=workers,
                                        connections=1024, cpus=cpus,
                                        access_log=f"{tmp_path}/access.log" if access_log else None))
    binary = nginx.find(host)
    pid = nginx.start(host, binary, str(conf), str(tmp_path))
    try:
        yield pid, f"http://127.0.0.1:{port}/", tmp_path
    finally:
        nginx.stop(host, binary, str(conf), str(tmp_path), pid)
        shutil.rmtree(tmp_path)
    assert not host.alive(pid)


def fetch_when_up(url: str) -> dict:
    """probe.fetch, retried while nginx is still starting (10 s at most)."""
    deadline = time.monotonic() + 10
    answer = probe.fetch(url)
    while "error" in answer and time.monotonic() < deadline:
        time.sleep(0.05)
        answer = probe.fetch(url)
    return answer


@pytest.mark.parametrize("size", [40, 10000])
def test_nginx_serves_the_payload_and_leaves_no_process(size):
    with running_nginx(size, workers=2) as (pid, url, _):
        answer = fetch_when_up(url)
        assert answer["status"] == 200
        assert answer["headers"]["content-length"] == str(size)
        assert answer["sha256"] == digest(size)
        workers = psutil.Process(pid).children()
        assert len(workers) == 2
    assert not any(psutil.pid_exists(w.pid) and w.status() != psutil.STATUS_ZOMBIE for w in workers)


def _cpus_allowed(pid: int) -> str:
    with open(f"/proc/{pid}/status") as status:
        return next(line.split(":", 1)[1].strip() for line in status if line.startswith("Cpus_allowed_list:"))


@pytest.mark.parametrize("cpus", [(0,), (1, 0)], ids=["0", "1,0"])
def test_nginx_workers_run_on_their_cpus(cpus):
    if not set(cpus) <= os.sched_getaffinity(0):
        pytest.skip(f"needs CPUs {cpus}; this machine has fewer")
    with running_nginx(40, workers=2, cpus=cpus) as (pid, url, _):
        assert fetch_when_up(url)["status"] == 200
        workers = sorted(psutil.Process(pid).children(), key=lambda w: w.pid)  # started in order, pids rising
        assert len(workers) == 2
        assert [_cpus_allowed(w.pid) for w in workers] == [str(cpus[i % len(cpus)]) for i in range(2)]


def test_a_bad_config_is_one_clear_error(tmp_path):
    conf = tmp_path / "nginx.conf"
    conf.write_text("events {}\nhttp { bogus_directive on; }\n")
    host = LocalHost()
    with pytest.raises(BenchError, match="nginx rejects its config"):
        nginx.start(host, nginx.find(host), str(conf), str(tmp_path))


@pytest.mark.parametrize("change, message", [
    ({"workdir": "/w/x;touch marker;"}, "cannot take work folder"),
    ({"www": "/w/www; include /etc/passwd"}, "cannot take www folder"),
    ({"www": "relative/www"}, "cannot take www folder"),
    ({"filename": "p.html =404; }"}, "cannot take the file name"),
    ({"filename": "../p.html"}, "cannot take the file name"),
    ({"interface": "127.0.0.1:1 ssl; listen 0.0.0.0"}, "cannot take the interface"),
    ({"port": "80; user root"}, "cannot take port"),
    ({"backlog": 0}, "cannot take backlog"),
    ({"workers": True}, "cannot take workers"),
    ({"access_log": "/w/a.log main; error_log /etc/x"}, "cannot take access log"),
    ({"cpus": ("1; user root",)}, "cannot take the CPUs"),
])
def test_a_value_that_is_not_one_plain_token_is_refused_before_rendering(change, message):
    values = dict(workdir="/w", www="/w/www", filename="p.html", interface="127.0.0.1", port=80, backlog=511,
                  workers=1, connections=64)
    with pytest.raises(BenchError, match=message):
        nginx.render_config(**{**values, **change})


def test_an_ipv6_interface_is_bracketed():
    text = nginx.render_config(workdir="/w", www="/w/www", filename="p.html", interface="::1", port=80,
                               backlog=511, workers=1, connections=64)
    assert "listen [::1]:80 backlog=511;" in text


def test_shell_characters_in_a_path_reach_nginx_as_one_argument(tmp_path):
    marker = tmp_path / "marker"
    folder = tmp_path / f"x;touch {marker};true"
    host = LocalHost()
    with pytest.raises(BenchError, match="nginx rejects its config"):
        nginx.start(host, nginx.find(host), f"{folder}/nginx.conf", str(folder))
    nginx.stop(host, nginx.find(host), f"{folder}/nginx.conf", str(folder), pid=2**22, timeout=0)
    assert not marker.exists()


def test_the_access_log_is_off_unless_asked_for_and_then_logs_each_request():
    with running_nginx(40, workers=1) as (_, url, folder):
        assert fetch_when_up(url)["status"] == 200
        assert not (folder / "access.log").exists()
    with running_nginx(40, workers=1, access_log=True) as (_, url, folder):
        assert fetch_when_up(url)["status"] == 200
        deadline = time.monotonic() + 5
        while '"GET / HTTP/1.1" 200 40' not in (folder / "access.log").read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert '"GET / HTTP/1.1" 200 40' in (folder / "access.log").read_text()
