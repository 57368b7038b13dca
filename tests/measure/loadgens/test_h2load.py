"""h2load over HTTP/1.1: its command lines, its parser on output captured here, the percentiles its command
line makes of h2load's per-request log, and real h2load runs against real Nginx and Twisted on loopback.

With BENCH_RECORD_FIXTURES=1 each live run's output is saved under fixtures/loadgen/ (see its README).
"""
from __future__ import annotations

import math
import os
import re
import shlex
import socket
import subprocess
import threading
import time
from fractions import Fraction
from pathlib import Path

import psutil
import pytest
from support import LOADGEN_FIXTURES as FIXTURES
from support import check_no_success, check_parsed, start_twisted

from bench.errors import BenchError
from bench.hosts import LocalHost
from bench.measure.loadgens.h2load import (
    COUNT,
    H2LOAD_ASSUMED_RATE,
    H2LOAD_MAX_REQUESTS,
    H2LOAD_TIMEOUT_S,
    LOG_MARK,
    PERCENTILES,
    RANK,
    WRAPPER,
    H2load,
    latency,
    own_cpu,
)
from bench.measure.loading import command_line, run
from bench.records import Load

URL = "http://127.0.0.1:8080/"
H2LOAD = "/usr/bin/h2load"


def h2load_argv(argv: list[str]) -> list[str]:
    """What h2load itself is given, behind the command line's wrapper."""
    assert argv[:7] == ["sh", "-c", WRAPPER, "h2load", COUNT, RANK, H2LOAD]
    return argv[7:]


# -- command lines ----------------------------------------------------------------------

N = ["--h1", "-c", "50", "-t", "1", "-N", f"{H2LOAD_TIMEOUT_S}s", "-n"]


@pytest.mark.parametrize("load, expected", [
    # A timed load: a request count, the warm-up's rate times the seconds; the assumed rate before a warm-up.
    pytest.param(Load(URL, 50, 1, True, duration=2, rate=12_345.6), [*N, "24692", URL], id="keepalive-sized-from-rate"),
    pytest.param(Load(URL, 50, 1, False, duration=2, rate=12_345.6), [*N, "24692", "-H", "Connection: close", URL],
                 id="close-sized-from-rate"),
    pytest.param(Load(URL, 50, 1, True, duration=0.5), [*N, str(H2LOAD_ASSUMED_RATE // 2), URL],
                 id="before-a-rate"),
    pytest.param(Load(URL, 50, 1, False, duration=1, rate=3.0), [*N, "50", "-H", "Connection: close", URL],
                 id="at-least-one-per-connection"),
    pytest.param(Load(URL, 50, 1, True, duration=100, rate=10**6), [*N, str(H2LOAD_MAX_REQUESTS), URL],
                 id="at-most-the-ceiling"),
    pytest.param(Load(URL, 4000, 4, True, requests=1_000_000, duration=9),
                 ["--h1", "-c", "4000", "-t", "4", "-N", f"{H2LOAD_TIMEOUT_S}s", "-n", "1000000", URL],
                 id="requests-win-over-duration"),
    pytest.param(Load(URL, 50, 1, True, requests=80_000, pipeline=16),
                 ["--h1", "-c", "50", "-t", "1", "-N", f"{H2LOAD_TIMEOUT_S}s", "-n", "80000", "-m", "16", URL],
                 id="pipelined"),
])
def test_command(load, expected):
    assert h2load_argv(H2load().command(load, H2LOAD)) == expected


def test_the_command_line_is_one_line_with_h2load_behind_taskset():
    line = command_line(H2load(), Load(URL, 10, 1, False, duration=1, rate=100.0), H2LOAD, (0,))
    assert "\n" not in line and line.startswith("taskset -c 0 sh -c ")
    assert shlex.split(line)[3:] == H2load().command(Load(URL, 10, 1, False, duration=1, rate=100.0), H2LOAD)


# -- the per-request log's percentiles ------------------------------------------------------

def nearest_rank(values: list[int], percent: str) -> int:
    """The smallest value with at least ``percent`` of them at or below it."""
    ordered = sorted(values)
    rank = math.ceil(Fraction(percent) * len(ordered) / 100)
    return ordered[max(rank, 1) - 1]


def summarize(log: str) -> str:
    """The command line's own summary of a log: the same two awk programs, through sort."""
    return subprocess.run(["sh", "-c", 'printf %s "$1" | awk "$2" | sort -n | awk "$3"', "summary", log, COUNT, RANK],
                          capture_output=True, text=True, check=True).stdout


def test_the_summary_is_each_percentile_by_nearest_rank_over_every_answer(nginx, tmp_path):
    subprocess.run([H2LOAD, "--h1", "-n", "3000", "-c", "8", f"--log-file={tmp_path / 'log'}", nginx[0]],
                   capture_output=True, check=True, timeout=60)
    log = (tmp_path / "log").read_text()  # h2load's own: start, status, microseconds, a line per request
    answered = [int(line.split("\t")[2]) for line in log.splitlines() if line.split("\t")[1] == "200"]
    assert len(answered) == 3000
    # A failed stream (status -1) is no answer: its time is left out.
    said = summarize(log + "1800000000000000\t-1\t999999999\n")
    expected = {f"p{p}": float(nearest_rank(answered, p)) for p in PERCENTILES}
    expected["mean"] = round(sum(answered) / len(answered), 1)
    assert said.startswith(f"latency_us responses={len(answered)} ")
    assert latency(said) == pytest.approx(expected)
    assert len(set(answered)) > 50  # a real spread of times, not a few values


def test_each_rank_is_exact():
    said = summarize("".join(f"1800000000000000\t200\t{value}\n" for value in range(1000, 0, -1)))
    assert latency(said) == {"mean": 500.5, "p50": 500, "p75": 750, "p90": 900, "p99": 990, "p99.9": 999, "p100": 1000}


def test_no_answer_makes_no_summary():
    assert summarize("1800000000000000\t-1\t5\n") == summarize("") == ""


# -- parsing recorded output ------------------------------------------------------------------

# Expected values are read off the fixture files (see their README for how each was made).
PARSED = [
    pytest.param("nginx-keepalive", dict(
        seconds=0.09295, req_per_s=32274.03, kbyte_per_s=8.49 * 1024, requests_started=3000, requests_done=3000,
        succeeded=3000, failed=0, errored=0, status={"2xx": 3000, "3xx": 0, "4xx": 0, "5xx": 0}, bytes_total=828000,
        cpu_s=0.02), {"mean": 242.5, "p50": 165, "p90": 199, "p99": 2986, "p100": 5497}, True, id="nginx-keepalive"),
    pytest.param("nginx-close", dict(
        seconds=0.15747, req_per_s=19051.61, kbyte_per_s=None, requests_done=3000, succeeded=3000, failed=0,
        errored=0, bytes_total=None, cpu_s=0.09), {"p50": 300, "p99": 594}, True, id="nginx-close"),
    pytest.param("twisted-keepalive", dict(
        seconds=0.28567, req_per_s=7001.11, kbyte_per_s=1.13 * 1024, requests_done=2000, succeeded=2000,
        bytes_total=338000), {"p50": 880, "p99": 4585}, True, id="twisted-keepalive"),
    pytest.param("twisted-close", dict(
        seconds=0.6836, req_per_s=2925.68, kbyte_per_s=None, requests_done=2000, succeeded=2000, bytes_total=None),
        {"p50": 2531, "p100": 6792}, True, id="twisted-close"),
    pytest.param("404", dict(
        req_per_s=21639.40, requests_done=1000, succeeded=0, failed=1000, errored=0,
        status={"2xx": 0, "3xx": 0, "4xx": 1000, "5xx": 0}), {"p50": 325}, False, id="404"),
    pytest.param("301", dict(
        req_per_s=22462.32, requests_done=1000, succeeded=1000, failed=0, errored=0,
        status={"2xx": 0, "3xx": 1000, "4xx": 0, "5xx": 0}), {"p50": 313}, False, id="301"),
    pytest.param("refused", dict(
        seconds=0.00162, req_per_s=0, kbyte_per_s=0, requests_started=0, requests_done=0, succeeded=0, failed=0,
        errored=200, latency_us={}), {}, False, id="refused"),
    pytest.param("twisted-killed", dict(
        req_per_s=4627.07, requests_started=2173, requests_done=2165, succeeded=2165, failed=0, errored=47835),
        {"p50": 1220}, False, id="twisted-killed"),
]


@pytest.mark.parametrize("name, fields, latency_us, clean", PARSED)
def test_parse_fixture(name, fields, latency_us, clean):
    check_parsed(H2load(), f"h2load-{name}.stdout", fields, latency_us, clean)


@pytest.mark.parametrize("name", [row.id for row in PARSED if row.id != "refused"])
def test_the_logs_percentiles_agree_with_h2loads_own_figures(name):
    """h2load's own min, max and mean of the request times (its units, rounded) are the log's."""
    result = H2load().parse((FIXTURES / f"h2load-{name}.stdout").read_text(), "cmd")
    own = re.search(r"^time for request:\s+([\d.]+)(us|ms)\s+([\d.]+)(us|ms)\s+([\d.]+)(us|ms)", result.raw,
                    re.MULTILINE)
    low, high, mean = (float(own.group(i)) * (1000 if own.group(i + 1) == "ms" else 1) for i in (1, 3, 5))
    assert result.latency_us["p100"] == pytest.approx(high, abs=10) and result.latency_us["mean"] == pytest.approx(mean, abs=10)
    assert low <= result.latency_us["p50"] <= result.latency_us["p99"] <= high


def test_every_answer_404_is_no_success_despite_a_large_rate():
    check_no_success(H2load().parse((FIXTURES / "h2load-404.stdout").read_text(), "cmd"))


def test_unparseable_output_says_so_with_its_tail():
    text = (FIXTURES / "h2load-nginx-keepalive.stdout").read_text().split("status codes:")[0]
    with pytest.raises(BenchError, match=r"h2load printed no result; check the URL and the tool: .*requests: 3000 total"):
        H2load().parse(text, "cmd")
    with pytest.raises(BenchError, match="h2load printed no result.*no output"):
        H2load().parse("", "cmd")


def test_its_own_cpu_is_h2loads_not_the_summarys():
    text = (FIXTURES / "h2load-nginx-close.stdout").read_text()
    assert own_cpu(text) == pytest.approx(0.02 + 0.07)
    assert own_cpu(text.replace(LOG_MARK, "no mark")) is None  # cut short: the session's own figure stands


# -- real h2load on loopback ------------------------------------------------------------------

def measure(load: Load, name: str, tmp_path: Path, monkeypatch, timeout: float = 60):
    """h2load as `inv bench` runs it, its log made under ``tmp_path``; saved as fixture ``name`` when recording."""
    tmp_path.mkdir(exist_ok=True)
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # where the command line's mktemp puts h2load's log
    result = run(LocalHost(), H2load(), H2LOAD, load, timeout=timeout)
    if os.environ.get("BENCH_RECORD_FIXTURES"):
        (FIXTURES / f"h2load-{name}.stdout").write_text(result.raw)
    assert list(tmp_path.iterdir()) == []  # the log was read and removed
    return result


@pytest.fixture(scope="module")
def twisted_url(tmp_path_factory):
    pid, url = start_twisted(tmp_path_factory.mktemp("twisted"))
    yield url
    LocalHost().stop(pid)


@pytest.mark.parametrize("keepalive", [True, False], ids=["keepalive", "close"])
def test_live_h2load_against_nginx(nginx, keepalive, tmp_path, monkeypatch):
    url, access_log = nginx
    access_log.write_text("")  # nginx appends (O_APPEND), so truncating starts a fresh count
    load = Load(url, 8, 1, keepalive, duration=1, rate=3000.0)
    result = measure(load, f"nginx-{'keepalive' if keepalive else 'close'}", tmp_path, monkeypatch)
    assert result.clean and result.succeeded == result.requests_done == result.status["2xx"] > 0, result.raw[-600:]
    assert "-D" not in shlex.split(result.command)  # a request count, sized from the rate given
    assert 0 < result.latency_us["p50"] <= result.latency_us["p99"] <= result.latency_us["p100"]
    assert 0 < result.cpu_s < 2 and f"{LOG_MARK}\n" in result.raw
    per_connection = [line.split() for line in access_log.read_text().splitlines()]
    assert {status for _, status in per_connection} == {"200"}
    assert len(per_connection) >= result.succeeded  # nginx answered every request h2load counted
    assert (max(int(count) for count, _ in per_connection) > 1) is keepalive  # closing: one request per connection
    assert (result.kbyte_per_s is None) is (not keepalive)  # h2load counts no byte of a closing connection


@pytest.mark.parametrize("keepalive", [True, False], ids=["keepalive", "close"])
def test_live_h2load_against_twisted(twisted_url, keepalive, tmp_path, monkeypatch):
    load = Load(twisted_url, 8, 1, keepalive, requests=2000)
    result = measure(load, f"twisted-{'keepalive' if keepalive else 'close'}", tmp_path, monkeypatch)
    assert result.clean and result.succeeded == result.requests_done == 2000, result.raw[-600:]
    assert result.latency_us["p50"] > 0


def test_live_404s_are_failures_however_fast(nginx, tmp_path, monkeypatch):
    result = measure(Load(nginx[0] + "missing", 8, 1, True, requests=1000), "404", tmp_path, monkeypatch)
    assert result.req_per_s > 0 and not result.clean
    assert (result.succeeded, result.failed, result.errored, result.status["4xx"]) == (0, 1000, 0, 1000)


def test_live_a_redirect_is_no_2xx(nginx, tmp_path, monkeypatch):
    (Path(nginx[1]).parent / "folder").mkdir(mode=0o755, exist_ok=True)  # /folder answers 301 to /folder/
    result = measure(Load(nginx[0] + "folder", 8, 1, True, requests=1000), "301", tmp_path, monkeypatch)
    assert result.succeeded == 1000 and result.status["3xx"] == 1000  # h2load calls a 3xx a success ...
    assert result.non_2xx == 1000 and not result.clean  # ... the lab does not


def kill_soon(pid: int) -> threading.Timer:
    killer = threading.Timer(0.5, lambda: LocalHost().run(f"kill -9 {pid}", warn=True))
    killer.start()
    return killer


def test_live_a_server_killed_mid_run_leaves_errors(tmp_path, monkeypatch):
    pid, url = start_twisted(tmp_path)
    killer = kill_soon(pid)
    try:  # far more requests than the server answers in the 0.5 s before it is killed
        result = measure(Load(url, 8, 1, True, requests=50000), "twisted-killed", tmp_path / "log", monkeypatch)
    finally:
        killer.cancel()
        LocalHost().stop(pid)
    assert not result.clean and 0 < result.succeeded < 50000
    assert result.succeeded + result.failed + result.errored == 50000 and result.errored > 0


def test_live_h2loads_timed_mode_would_hide_a_killed_server(tmp_path):
    """Why timed loads are request counts: with -D, h2load 1.52 reconnects in silence and calls the run clean."""
    pid, url = start_twisted(tmp_path)
    killer = kill_soon(pid)
    try:
        said = subprocess.run([H2LOAD, "--h1", "-c", "8", "-D", "2", url], capture_output=True, text=True,
                              timeout=60).stdout
    finally:
        killer.cancel()
        LocalHost().stop(pid)
    result = H2load().parse(said, "h2load -D 2")
    assert result.clean and result.seconds == pytest.approx(2, abs=0.1)  # a dead server, read as a clean run


@pytest.fixture
def closed_port():
    """A loopback port that refuses connections: bound, never listening, held for the test."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_live_a_refused_port_errs_every_request(closed_port, tmp_path, monkeypatch):
    load = Load(f"http://127.0.0.1:{closed_port}/", 4, 1, True, requests=200)
    result = measure(load, "refused", tmp_path, monkeypatch)
    assert (result.clean, result.succeeded, result.failed, result.errored) == (False, 0, 0, 200)
    assert result.latency_us == {}


def test_live_a_load_that_outlives_its_timeout_is_stopped_with_its_log(nginx, tmp_path, monkeypatch):
    url = nginx[0] + "?timeout-test"
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    with pytest.raises(BenchError, match=r"local: the load did not end within 0.5s"):
        run(LocalHost(), H2load(), H2LOAD, Load(url, 2, 1, True, requests=10**7), timeout=0.5)
    time.sleep(0.2)
    assert not [p for p in psutil.process_iter(["cmdline"]) if url in (p.info["cmdline"] or [])]
    assert list(tmp_path.iterdir()) == []
