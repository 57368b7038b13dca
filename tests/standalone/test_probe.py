"""The probe's pipelining check: real Twisted and Nginx answer 16 pipelined requests in order; a server that
answers out of order, drops one or talks past the last is caught."""
from __future__ import annotations

import hashlib
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from support import PROJECT, answer, broken_server, free_port, start_twisted, wait_accepting

from bench.hosts import LocalHost
from bench.measure.servers import nginx as nginx_config
from bench.standalone.payload import payload_bytes
from bench.standalone.probe import pipelined, pipelining_problems

BODY = payload_bytes(40)
DIGEST = hashlib.sha256(BODY).hexdigest()


@pytest.fixture(scope="module")
def twisted_url(tmp_path_factory):
    pid, url = start_twisted(tmp_path_factory.mktemp("twisted"))
    yield url
    LocalHost().stop(pid)


@pytest.fixture(scope="module")
def nginx_url():
    """Nginx as the lab runs it (its rendered config, started and stopped as the lab does), serving the payload."""
    root = Path(tempfile.mkdtemp(prefix="probe-nginx-"))
    root.chmod(0o755)  # its workers run as nobody
    (root / "www").mkdir(mode=0o755)
    (root / "www" / "payload-40.html").write_bytes(BODY)
    (root / "www" / "payload-40.html").chmod(0o644)
    port, conf, host = free_port(1), str(root / "nginx.conf"), LocalHost()
    Path(conf).write_text(nginx_config.render_config(
        workdir=str(root), www=str(root / "www"), filename="payload-40.html", interface="127.0.0.1", port=port,
        backlog=511, workers=1, connections=1024))
    pid = nginx_config.start(host, "nginx", conf, str(root))
    try:  # stopped by its pid, even when it never listened
        wait_accepting(port, lambda: host.alive(pid), "nginx")
        yield f"http://127.0.0.1:{port}/"
    finally:
        nginx_config.stop(host, "nginx", conf, str(root), pid)
    shutil.rmtree(root)


@pytest.mark.parametrize("server", ["twisted", "nginx"])
def test_real_servers_answer_every_pipelined_request_in_order(server, twisted_url, nginx_url):
    found = pipelined(twisted_url if server == "twisted" else nginx_url, 16)
    assert [answer["method"] for answer in found["answers"]] == ["GET", "HEAD"] * 8
    assert {(a["status"], a["content_length"]) for a in found["answers"]} == {(200, 40)}
    assert [a["length"] for a in found["answers"]] == [40, 0] * 8
    assert pipelining_problems(found, 40, DIGEST) == []


def test_the_probe_runs_alone_with_python_and_prints_json(twisted_url):
    said = subprocess.run([sys.executable, str(PROJECT / "bench" / "standalone" / "probe.py"), twisted_url, "2", "4"],
                          capture_output=True, text=True, check=True).stdout
    assert said.startswith('{"depth": 4, "answers": [{"status": 200')


@pytest.mark.parametrize("reply, problem", [
    (lambda methods: [answer(m) for m in methods], None),
    (lambda methods: [answer(m) for m in reversed(methods)], "answer 1 of 4 (GET): a body of 40 bytes that is not"),
    (lambda methods: [answer(m) for m in methods[:-1]], "3 answers to 4 requests"),
    (lambda methods: [answer(m) for m in methods] + [b"junk"], "4 bytes after the last answer"),
    (lambda methods: [answer(m, 404 if i == 2 else 200) for i, m in enumerate(methods)], "answer 3 of 4 (GET): status 404"),
    (lambda methods: [answer(m, body=BODY[:20]) for m in methods], "answer 1 of 4 (GET): Content-Length 20, expected 40"),
])
def test_a_server_that_answers_out_of_order_or_short_is_caught(reply, problem):
    url, thread = broken_server(reply)
    problems = pipelining_problems(pipelined(url, 4), 40, DIGEST)
    thread.join(5)
    assert problems == [] if problem is None else any(problem in found for found in problems)


def test_no_connection_is_one_problem():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound, never listening: refused
        found = pipelined(f"http://127.0.0.1:{sock.getsockname()[1]}/", 4)
    assert found["connected"] is False and len(pipelining_problems(found, 40, DIGEST)) == 1
