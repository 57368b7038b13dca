"""wrk2: its command line, its parser on output captured here, and the real wrk2, built by `inv setup` from its
pinned archive (BENCH_TEST_MIRROR), against a real nginx on loopback."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from support import MIRROR_VARIABLE, BarePathHost, wrk2_archive_problem

from bench.errors import BenchError
from bench.hosts import LocalHost
from bench.measure.loadgens import capabilities, detect, load_generator
from bench.measure.loadgens.wrk import WRK_TIMEOUT_S
from bench.measure.loadgens.wrk2 import Wrk2, calibration_s, offered, scheduled, shortest_run_s
from bench.measure.loading import run
from bench.records import Load

FIXTURES = Path(__file__).parents[1] / "fixtures" / "loadgen"
URL = "http://127.0.0.1:8080/"
COMMAND = "wrk2 -c 50 -t 1 -d 13s -R 5000 --timeout 10s --latency -U http://127.0.0.1:18080/"


# -- parsing real output ---------------------------------------------------------------

# Expected values are read off the fixture files (see their README for how each was made).
PARSED = [
    pytest.param("wrk2-below.stdout",
                 dict(seconds=13.0, req_per_s=4953.26, requests_done=64405, succeeded=64405, failed=0, errored=0),
                 {"p50": 1020, "p90": 1720, "p99": 4120, "p99.9": 6660, "p100": 7010, "mean": 1102},
                 {"p50": 233, "p99": 1310, "p99.9": 5080, "mean": 284}, {}, True, id="below-capacity"),
    pytest.param("wrk2-above.stdout",
                 dict(req_per_s=48859.9, requests_done=635198, succeeded=635198, errored=0),
                 {"p50": 10.06e6, "p99": 11.30e6, "p99.9": 11.36e6, "p100": 11.38e6},
                 {"p50": 732, "p99": 2250}, {}, True, id="above-capacity"),
    pytest.param("wrk2-notfound.stdout",
                 dict(req_per_s=1992.48, requests_done=23911, succeeded=0, failed=23911, errored=0,
                      status={"2xx": 0, "other": 23911}),
                 {"p50": 980, "p99": 2580}, {"p50": 116}, {}, False, id="404"),
    pytest.param("wrk2-close.stdout",
                 dict(req_per_s=1992.45, requests_done=23911, succeeded=23911, errored=0),
                 {"p50": 930, "p99": 1910, "p99.9": 2320}, {"p50": 220}, {}, True, id="close"),
    pytest.param("wrk2-dying.stdout",
                 dict(seconds=12.1, req_per_s=1744.63, requests_done=21111, succeeded=21111, errored=20),
                 {"p99": 1920}, {"p99": 262}, {"connect": 0, "read": 0, "write": 0, "timeout": 20}, False,
                 id="server-stopped"),
    pytest.param("wrk2-twothreads.stdout",
                 dict(req_per_s=9960.44, requests_done=119534, succeeded=119534),
                 {"p50": 940, "p99": 1980, "p99.99": 3200, "p99.999": 3420}, {}, {}, True, id="two-threads-no-U"),
    pytest.param("wrk2-refused.stdout", dict(req_per_s=0, requests_done=0, succeeded=0, errored=1), {}, {}, {},
                 False, id="refused"),
]


@pytest.mark.parametrize("fixture, fields, latency, uncorrected, sockets, clean", PARSED)
def test_parse_fixture(fixture, fields, latency, uncorrected, sockets, clean):
    text = (FIXTURES / fixture).read_text()
    result = Wrk2().parse(text, COMMAND)
    for name, expected in fields.items():
        assert getattr(result, name) == pytest.approx(expected), name
    assert {key: result.latency_us[key] for key in latency} == pytest.approx(latency)
    assert {key: result.uncorrected_us[key] for key in uncorrected} == pytest.approx(uncorrected)
    assert result.socket_errors == sockets and result.clean is clean
    assert (result.tool, result.offered_per_s, result.raw) == ("wrk2", 5000, text)


def test_the_corrected_percentiles_show_a_stall_the_uncorrected_ones_hide():
    """nginx stopped (SIGSTOP) for 2.5 s of a 2000 req/s run: every request due meanwhile waited for it."""
    result = Wrk2().parse((FIXTURES / "wrk2-stalled.stdout").read_text(), COMMAND)
    assert result.clean and result.uncorrected_us["p50"] == pytest.approx(267)
    assert result.latency_us["p50"] == pytest.approx(603_650) and result.latency_us["p50"] > 1000 * result.uncorrected_us["p50"]
    assert result.latency_us["p99"] == pytest.approx(2_470_000)


def test_a_run_that_ended_inside_its_calibration_gives_no_percentiles():
    """3 s with two threads: neither calibrated, so what they recorded is the run's start-up."""
    result = Wrk2().parse((FIXTURES / "wrk2-short.stdout").read_text(), COMMAND)
    assert result.clean and result.req_per_s == pytest.approx(1987.11)
    assert result.latency_us == {} and result.uncorrected_us == {}


@pytest.mark.parametrize("command, rate", [(COMMAND, 5000), ("taskset -c 0 wrk2 --rate 250 URL", 250), ("wrk2 URL", None)])
def test_the_offered_rate_comes_from_the_command_line(command, rate):
    assert offered(command) == rate


@pytest.mark.parametrize("command, rate", [
    ("wrk2 -c 200 -t 1 -d 13s -R 10000 URL", 10000 * (13 - 0.005 * 199) / 13),  # 92.3 %: the connects' stagger
    ("wrk2 -c 200 -t 2 -d 13s -R 10000 URL", 10000 * (13 - 0.005 * 99) / 13),  # two threads stagger 100 each
    ("wrk2 -c 1 -t 1 -d 13s -R 500 URL", 500), ("wrk2 -c 10 -d 13s URL", None), ("wrk2 -R 5 URL", None)])
def test_the_schedule_over_the_run_is_the_rate_less_the_staggered_connects(command, rate):
    assert scheduled(command) == (pytest.approx(rate) if rate else None)


# -- command lines ----------------------------------------------------------------------

@pytest.mark.parametrize("connections, threads, calibrating, shortest", [
    (50, 1, 10.25, 13), (200, 1, 11.0, 13), (200, 2, 10.5, 13), (10, 1, 10.05, 13), (400, 1, 12.0, 14)])
def test_a_run_lasts_its_calibration_and_two_recorded_seconds(connections, threads, calibrating, shortest):
    assert calibration_s(connections, threads) == pytest.approx(calibrating)
    assert shortest_run_s(connections, threads) == shortest


@pytest.mark.parametrize("load, argv", [
    pytest.param(Load(URL, 200, 1, True, duration=13, offered=7512.6),
                 ["wrk2", "-c", "200", "-t", "1", "-d", "13s", "-R", "7513", "--timeout", f"{WRK_TIMEOUT_S}s",
                  "--latency", "-U", URL], id="keepalive"),
    pytest.param(Load(URL, 20, 2, False, duration=12.5, offered=100),
                 ["wrk2", "-c", "20", "-t", "2", "-d", "13s", "-R", "100", "--timeout", f"{WRK_TIMEOUT_S}s",
                  "--latency", "-U", "-H", "Connection: close", URL], id="close"),
])
def test_command(load, argv):
    assert Wrk2().command(load, "wrk2") == argv


@pytest.mark.parametrize("load, message", [
    (Load(URL, 10, 1, True, duration=13), r"^wrk2 sends at a fixed rate: .* pass another --loadgen$"),
    (Load(URL, 10, 1, True, duration=13, offered=0.4), "wrk2 sends at a fixed rate"),
    (Load(URL, 10, 1, True, duration=13, offered=100, pipeline=16), "^wrk2 cannot pipeline requests: choose a --loadgen"),
    (Load(URL, 200, 1, True, duration=12, offered=100),
     r"^a wrk2 run of 12s keeps no latency: each thread calibrates for 11s first \(200 connections on 1 threads\); "
     r"give it at least 13s$"),
    (Load(URL, 10, 1, True, requests=1000, offered=100), "wrk2 runs for a duration"),
    (Load(URL, 2, 4, True, duration=13, offered=100), "at least as many connections as threads"),
])
def test_command_refuses_what_the_tool_cannot_do(load, message):
    with pytest.raises(BenchError, match=message):
        Wrk2().command(load, "wrk2")


def test_it_is_the_registry_s_fixed_rate_generator_and_never_taken_for_wrk():
    assert load_generator("wrk2") is Wrk2 and capabilities(Wrk2).fixed_rate and not capabilities(Wrk2).closed_loop
    assert capabilities(load_generator("wrk")).closed_loop and not capabilities(load_generator("wrk")).fixed_rate
    usage = "  -R, --rate        <T>  work rate (throughput)\n"
    assert Wrk2.read_version("wrk 4.0.0 [epoll] Copyright (C) 2012 Will Glozer\n" + usage) == "wrk2 (wrk 4.0.0)"
    assert Wrk2.read_version("wrk debian/4.1.0-3+b2 [epoll] Copyright (C) 2012 Will Glozer\nUsage: wrk\n") is None


# -- the real wrk2 ----------------------------------------------------------------------------

def test_a_missing_archive_is_a_skip_that_says_how_to_provide_one(tmp_path):
    assert wrk2_archive_problem(None).startswith(f"real wrk2: no source archive ({MIRROR_VARIABLE} is not set): set ")
    assert wrk2_archive_problem(str(tmp_path)) == (
        f"real wrk2: {tmp_path} lacks wrk2-44a94c17d8e6a0bac8559b53da76848e430cb7a7.tar.gz: set {MIRROR_VARIABLE} to a "
        f"folder holding wrk2-44a94c17d8e6a0bac8559b53da76848e430cb7a7.tar.gz (giltene/wrk2's archive of the pinned commit)")


@pytest.mark.wrk2
def test_setup_built_wrk2_under_its_own_name(wrk2):
    assert Path(wrk2).name == "wrk2" and Wrk2.version(LocalHost(), wrk2) == "wrk2 (wrk 4.0.0)"


@pytest.mark.wrk2
def test_live_wrk2_offers_its_rate_and_keeps_corrected_percentiles(wrk2, nginx):
    url, access_log = nginx
    access_log.write_text("")
    load = Load(url, 10, 1, True, duration=shortest_run_s(10, 1), offered=500)
    result = run(LocalHost(), Wrk2(), wrk2, load, timeout=60)
    assert result.clean and result.offered_per_s == 500 and result.seconds >= 13
    assert result.req_per_s == pytest.approx(500, rel=0.05)  # a constant rate, not as fast as nginx answers
    assert 0 < result.uncorrected_us["p50"] <= result.latency_us["p50"] <= result.latency_us["p99"] <= result.latency_us["p100"]
    assert len(access_log.read_text().splitlines()) >= result.requests_done


@pytest.mark.wrk2
def test_live_wrk2_achieves_its_schedule_not_its_nominal_rate(wrk2, nginx):
    """200 connections connect 5 ms apart: over 13 s wrk2 sends 3.5 % or 7.7 % less than -R, whatever the server."""
    url, _ = nginx
    load = Load(url, 200, 1, True, duration=shortest_run_s(200, 1), offered=2000)
    result = run(LocalHost(), Wrk2(), wrk2, load, timeout=60)
    assert result.clean and result.scheduled_per_s == pytest.approx(2000 * 12.005 / 13)
    assert result.req_per_s < 0.975 * result.offered_per_s  # an idle server: the shortfall is wrk2's own
    assert 0.99 * result.scheduled_per_s <= result.req_per_s <= 1.05 * result.scheduled_per_s


@pytest.mark.wrk2
def test_detect_takes_wrk2_only_when_named_never_for_the_rounds(wrk2, tmp_path):
    shutil.copy(wrk2, tmp_path / "wrk2")
    host = BarePathHost(str(tmp_path))
    with pytest.raises(BenchError, match=r"^no load generator found on local \(looked for weighttp, wrk, h2load\)"):
        detect(host, None, ["weighttp", "wrk", "h2load", "wrk2"], [])
    found, binary = detect(host, "wrk2", ["weighttp", "wrk", "h2load", "wrk2"], [])
    assert type(found) is Wrk2 and binary == str(tmp_path / "wrk2")
