"""wrk: its command line, its parser on output captured here, and real wrk runs against a real nginx on loopback."""
from __future__ import annotations

import re
import shutil
import socket
import time

import psutil
import pytest
from support import LOADGEN_FIXTURES as FIXTURES
from support import BarePathHost, check_no_success, check_parsed

from bench.errors import BenchError
from bench.hosts import LocalHost
from bench.measure.loadgens import detect
from bench.measure.loadgens.wrk import WRK_TIMEOUT_S, Wrk
from bench.measure.loading import run
from bench.records import Load

URL = "http://127.0.0.1:8080/"


# -- parsing real output ---------------------------------------------------------------

# Expected values are read off the fixture files (see their README for how each was made).
PARSED = [
    pytest.param(
        "wrk-keepalive.stdout",
        dict(seconds=1.0, req_per_s=63528.75, kbyte_per_s=16.72 * 1024, requests_started=None, requests_done=63633,
             succeeded=63633, failed=0, errored=0, status={"2xx": 63633, "other": 0},
             bytes_total=round(16.75 * 1024**2)),
        {"p50": 737, "p75": 860, "p90": 1000, "p99": 1360, "p100": 4270, "mean": 788.73},
        True, id="wrk-keepalive"),
    pytest.param(
        "wrk-close.stdout",
        dict(seconds=1.0, req_per_s=19907.03, kbyte_per_s=5.14 * 1024, requests_done=19923,
             succeeded=19923, failed=0, errored=0, status={"2xx": 19923, "other": 0},
             bytes_total=round(5.15 * 1024**2)),
        {"p50": 379, "p99": 1170},
        True, id="wrk-close"),
    pytest.param(
        "wrk-404.stdout",
        dict(seconds=1.1, req_per_s=85892.11, kbyte_per_s=25.23 * 1024, requests_done=94493,
             succeeded=0, failed=94493, errored=0, status={"2xx": 0, "other": 94493},
             bytes_total=round(27.76 * 1024**2)),
        {"p50": 218, "p99": 411},
        False, id="wrk-404"),
    pytest.param(
        "wrk-reset.stdout",
        dict(seconds=1.1, req_per_s=0, kbyte_per_s=0, requests_done=0,
             succeeded=0, failed=0, errored=6130 + 28678, status={"2xx": 0, "other": 0}, bytes_total=0, latency_us={}),
        {},
        False, id="wrk-reset"),
    pytest.param(
        "wrk-refused.stderr",
        dict(req_per_s=0, requests_done=0, succeeded=0, failed=0, errored=1, latency_us={}),
        {},
        False, id="wrk-refused"),
]


@pytest.mark.parametrize("fixture, fields, latency, clean", PARSED)
def test_parse_fixture(fixture, fields, latency, clean):
    check_parsed(Wrk(), fixture, fields, latency, clean)


def test_every_answer_404_is_no_success_despite_a_large_rate():
    check_no_success(Wrk().parse((FIXTURES / "wrk-404.stdout").read_text(), "cmd"))


def test_unparseable_output_says_so_with_its_tail():
    text = (FIXTURES / "wrk-keepalive.stdout").read_text().split("  Latency Distribution")[0]
    last_line = text.strip().splitlines()[-1].strip()
    with pytest.raises(BenchError, match=rf"wrk printed no result.*{re.escape(last_line)}"):
        Wrk().parse(text, "cmd")


# -- command lines ----------------------------------------------------------------------

@pytest.mark.parametrize("load, argv", [
    pytest.param(Load(URL, 200, 1, True, duration=3),
                 ["wrk", "-c", "200", "-t", "1", "-d", "3s", "--timeout", f"{WRK_TIMEOUT_S}s", "--latency", URL],
                 id="wrk-keepalive"),
    pytest.param(Load(URL, 50, 2, False, duration=0.2, requests=999),
                 ["wrk", "-c", "50", "-t", "2", "-d", "1s", "--timeout", f"{WRK_TIMEOUT_S}s", "--latency",
                  "-H", "Connection: close", URL], id="wrk-close-fraction-ignores-requests"),
])
def test_command(load, argv):
    assert Wrk().command(load, argv[0]) == argv


@pytest.mark.parametrize("load, message", [
    (Load(URL, 10, 1, True, requests=1000), "wrk runs for a duration"),
    (Load(URL, 2, 4, True, duration=1), "at least as many connections as threads"),
    (Load(URL, 10, 1, True, duration=1, pipeline=16), "^wrk cannot pipeline requests: choose a --loadgen that can"),
])
def test_command_refuses_what_the_tool_cannot_do(load, message):
    with pytest.raises(BenchError, match=message):
        Wrk().command(load, "wrk")


# -- finding it ---------------------------------------------------------------------------

def test_detect_falls_back_to_wrk_on_path(tmp_path):
    shutil.copy(shutil.which("wrk"), tmp_path / "wrk")
    found, binary = detect(BarePathHost(str(tmp_path)), None, ["weighttp", "wrk"], [])
    assert type(found) is Wrk and binary == str(tmp_path / "wrk")
    assert Wrk.version(LocalHost(), binary).startswith("wrk ")


# -- real wrk against a real nginx on loopback ---------------------------------------------

@pytest.fixture
def closed_port():
    """A loopback port that refuses connections: bound, never listening, held for the test."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.mark.parametrize("keepalive", [True, False], ids=["keepalive", "close"])
def test_live_wrk_against_nginx(nginx, keepalive):
    url, access_log = nginx
    access_log.write_text("")  # nginx appends (O_APPEND), so truncating starts a fresh count
    result = run(LocalHost(), Wrk(), "wrk", Load(url, 8, 1, keepalive, duration=1), timeout=30)
    assert result.clean and result.succeeded == result.requests_done > 0
    assert result.req_per_s > 0 and result.seconds >= 1 and result.latency_us["p50"] > 0
    assert ("Connection: close" in result.command) is not keepalive and result.raw.startswith("Running 1s test")
    assert 0 < result.cpu_s < 2  # the shell's `times`, taken off the output:
    assert not re.search(r"^\d+m[\d.]+s \d+m[\d.]+s$", result.raw, re.MULTILINE)
    per_connection = [int(line.split()[0]) for line in access_log.read_text().splitlines()]
    assert len(per_connection) >= result.succeeded  # nginx answered every request wrk counted
    assert (max(per_connection) > 1) is keepalive  # without keep-alive, one request per connection


def test_live_wrk_against_a_closed_port(closed_port):
    load = Load(f"http://127.0.0.1:{closed_port}/", 4, 1, True, duration=1)
    result = run(LocalHost(), Wrk(), "wrk", load, timeout=30)
    assert (result.clean, result.succeeded, result.requests_done, result.errored) == (False, 0, 0, 1)
    assert "Connection refused" in result.raw


def test_run_stops_a_load_that_outlives_its_timeout(nginx):
    url = nginx[0] + "?timeout-test"
    with pytest.raises(BenchError, match=r"local: the load did not end within 0.5s"):
        run(LocalHost(), Wrk(), "wrk", Load(url, 2, 1, True, duration=5), timeout=0.5)
    time.sleep(0.1)
    assert not [p for p in psutil.process_iter(["cmdline"]) if url in (p.info["cmdline"] or [])]


def test_run_with_output_that_says_nothing(nginx):
    with pytest.raises(BenchError, match=r"wrk printed no result; check the URL and the tool: .*--latency"):
        run(LocalHost(), Wrk(), "/bin/echo", Load(nginx[0], 2, 1, True, duration=1), timeout=30)
