"""weighttp 0.5 and 0.4: their command lines and parsers on recorded output, their version probe, and the
real builds of `inv setup` from the release archives against real Nginx and Twisted: every way a run ends,
parsed as what it is. A run with failures never parses to a clean number.

The real builds' archives come from a mirror folder, as a user's would (`inv setup --mirror DIR`): set
BENCH_TEST_MIRROR to a folder holding weighttp-0.5.tar.gz and weighttp-0.4.tar.gz. Without it these
tests are skipped, and say so; CI (.ci/run) sets it and fails when they are skipped.
With BENCH_RECORD_FIXTURES=1 each run's output is saved under fixtures/loadgen/ (see its README).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest
from support import LOADGEN_FIXTURES as FIXTURES
from support import check_no_success, check_parsed, free_port, project_config, start_twisted, wait_accepting

from bench.config import plain
from bench.errors import BenchError
from bench.hosts import LocalHost
from bench.hosts.local import start_time
from bench.measure.loadgens import detect
from bench.measure.loadgens.weighttp import (
    WEIGHTTP_MAX_REQUESTS,
    WEIGHTTP_MIN_REQUESTS,
    WEIGHTTP_REQUESTS,
    Weighttp,
    Weighttp04,
    Weighttp05,
)
from bench.measure.loading import Loader, run, run_round, sessions_for
from bench.measure.sampling import Window
from bench.records import Load
from bench.setup.provision import setup_host

MIRROR_VARIABLE = "BENCH_TEST_MIRROR"
VERSIONS = ("0.5", "0.4")
GENERATORS = {"0.5": Weighttp05(), "0.4": Weighttp04()}
BODY = b"<html>Hello, world! [Nginx      ]</html>"  # 40 bytes, the seed's payload
URL = "http://127.0.0.1:8080/"
needs_archives = pytest.mark.weighttp


# -- parsing recorded output ------------------------------------------------------------

# Expected values are read off the fixture files (see their README for how each was made).
PARSED = [
    pytest.param(
        "weighttp-0.5-keepalive.stdout", "0.5",
        dict(seconds=0.661937, req_per_s=151071, kbyte_per_s=40718, requests_started=100000, requests_done=100000,
             succeeded=100000, failed=0, errored=0, status={"2xx": 100000, "3xx": 0, "4xx": 0, "5xx": 0},
             bytes_total=27600000),
        {"p50": 299, "p90": 1592, "p99": 4859, "p100": 12963, "mean": 638},
        True, id="weighttp-0.5-keepalive"),
    pytest.param(
        "weighttp-0.5-close.stdout", "0.5",
        dict(seconds=0.377041, req_per_s=53044, kbyte_per_s=530236, requests_started=20000, requests_done=20000,
             succeeded=20000, failed=0, errored=0, status={"2xx": 20000, "3xx": 0, "4xx": 0, "5xx": 0},
             bytes_total=204720000),
        {"p0": 17, "p50": 393, "p90": 1726, "p99": 3535, "mean": 695},
        True, id="weighttp-0.5-close"),
    pytest.param(
        "weighttp-0.5-404-quiet.stdout", "0.5",
        dict(seconds=0.030229, req_per_s=165404, kbyte_per_s=49720, requests_started=5000, requests_done=5000,
             succeeded=0, failed=5000, errored=0, status={"2xx": 0, "3xx": 0, "4xx": 5000, "5xx": 0},
             bytes_total=1540000),
        {"p50": 98, "p99": 310},
        False, id="weighttp-0.5-404"),
    pytest.param(
        "weighttp-0.4-keepalive.stdout", "0.4",
        dict(seconds=16.021887, req_per_s=62414, kbyte_per_s=10239, requests_started=1000000, requests_done=1000000,
             succeeded=1000000, failed=0, errored=0, status={"2xx": 1000000, "3xx": 0, "4xx": 0, "5xx": 0},
             bytes_total=168000000),
        {},
        True, id="weighttp-0.4-keepalive"),
]


@pytest.mark.parametrize("fixture, version, fields, latency, clean", PARSED)
def test_parse_fixture(fixture, version, fields, latency, clean):
    check_parsed(GENERATORS[version], fixture, fields, latency, clean)


def test_every_answer_404_is_no_success_despite_a_large_rate():
    check_no_success(Weighttp05().parse((FIXTURES / "weighttp-0.5-404-quiet.stdout").read_text(), "cmd"))


def test_a_pipelined_run_keeps_no_latency():
    """weighttp times a pipelined request from the answer before it, not from its send: no latency figure."""
    text = (FIXTURES / "weighttp-0.5-keepalive.stdout").read_text()
    assert Weighttp05().parse(text, "weighttp -n 9 -c 2 -t 1 -k -K 1 URL").latency_us["p50"] == 299
    result = Weighttp05().parse(text, "weighttp -n 9 -c 2 -t 1 -k -K 16 URL")
    assert result.latency_us == {} and result.clean and result.req_per_s == pytest.approx(151071)


def test_weighttp_05_json_found_between_banner_and_trailing_text():
    banner = (FIXTURES / "weighttp-0.5-keepalive.stdout").read_text().split("{", 1)[0]
    quiet = (FIXTURES / "weighttp-0.5-404-quiet.stdout").read_text()
    result = Weighttp05().parse(banner + quiet + "error: something on stderr\n", "cmd")
    assert result.requests_done == 5000 and result.status["4xx"] == 5000


def test_weighttp_05_nothing_finished_is_a_failed_result():
    # weighttp 0.5's weighttp_report() prints only this line, to stderr, when no request finished.
    result = Weighttp05().parse("\nweighttp 0.5 - lightweight ...\n\nerror: request_count 0\n", "cmd")
    assert (result.requests_done, result.succeeded, result.clean) == (0, 0, False)


@pytest.mark.parametrize("version, text", [
    ("0.5", (FIXTURES / "weighttp-0.5-close.stdout").read_text()[:900]),  # cut off mid-JSON
    ("0.4", (FIXTURES / "weighttp-0.4-keepalive.stdout").read_text().split("finished")[0]),
])
def test_unparseable_output_says_so_with_its_tail(version, text):
    last_line = text.strip().splitlines()[-1].strip()
    with pytest.raises(BenchError, match=rf"weighttp-{version} printed no result.*{re.escape(last_line)}"):
        GENERATORS[version].parse(text, "cmd")


# -- command lines ----------------------------------------------------------------------

COMMANDS = [
    pytest.param(Weighttp05(), Load(URL, 100, 2, True, requests=100000),
                 ["weighttp", "-n", "100000", "-c", "100", "-t", "2", "-k", URL], id="w05-requests-keepalive"),
    # A timed load: -n twice what the warm-up's rate makes in its seconds, within bounds; the default without a rate.
    pytest.param(Weighttp05(), Load(URL, 50, 2, False, duration=3),
                 ["weighttp", "-n", str(WEIGHTTP_REQUESTS), "-a", "3", "-c", "50", "-t", "2", URL],
                 id="w05-duration-no-rate"),
    pytest.param(Weighttp05(), Load(URL, 200, 1, True, duration=2, rate=85_000.0),
                 ["weighttp", "-n", "340000", "-a", "2", "-c", "200", "-t", "1", "-k", URL], id="w05-duration-rate"),
    pytest.param(Weighttp05(), Load(URL, 10, 1, True, duration=0.5, rate=70_000.4),
                 ["weighttp", "-n", "140001", "-a", "1", "-c", "10", "-t", "1", "-k", URL],
                 id="w05-fraction-rounds-up"),
    pytest.param(Weighttp05(), Load(URL, 10, 1, True, duration=2, rate=3_000.0),
                 ["weighttp", "-n", str(WEIGHTTP_MIN_REQUESTS), "-a", "2", "-c", "10", "-t", "1", "-k", URL],
                 id="w05-slow-rate-floor"),
    pytest.param(Weighttp05(), Load(URL, 10, 1, True, duration=10, rate=5_000_000.0),
                 ["weighttp", "-n", str(WEIGHTTP_MAX_REQUESTS), "-a", "10", "-c", "10", "-t", "1", "-k", URL],
                 id="w05-fast-rate-cap"),
    pytest.param(Weighttp05(), Load(URL, 10, 1, True, requests=5000, duration=2, rate=85_000.0),
                 ["weighttp", "-n", "5000", "-a", "2", "-c", "10", "-t", "1", "-k", URL], id="w05-requests-win-over-rate"),
    pytest.param(Weighttp05(), Load(URL, 10, 1, True, requests=5000, duration=2),
                 ["weighttp", "-n", "5000", "-a", "2", "-c", "10", "-t", "1", "-k", URL], id="w05-both"),
    pytest.param(Weighttp05(), Load(URL, 200, 1, True, requests=400_000, pipeline=16),
                 ["weighttp", "-n", "400000", "-c", "200", "-t", "1", "-k", "-K", "16", URL], id="w05-pipelined"),
    pytest.param(Weighttp04(), Load(URL, 4000, 4, True, requests=1000000),
                 ["weighttp", "-n", "1000000", "-c", "4000", "-t", "4", "-k", URL], id="w04-seed-keepalive"),
    pytest.param(Weighttp04(), Load(URL, 500, 4, False, requests=100000, duration=3),
                 ["weighttp", "-n", "100000", "-c", "500", "-t", "4", URL], id="w04-close-ignores-duration"),
]


@pytest.mark.parametrize("generator, load, argv", COMMANDS)
def test_command(generator, load, argv):
    assert generator.command(load, argv[0]) == argv


@pytest.mark.parametrize("generator, load, message", [
    (Weighttp04(), Load(URL, 10, 1, True, duration=3), "weighttp 0.4 cannot stop after a duration: give the load requests"),
    (Weighttp05(), Load(URL, 10, 1, True), "neither requests nor a duration"),
    (Weighttp05(), Load(URL, 2, 4, True, requests=100), "at least as many connections as threads"),
    (Weighttp04(), Load(URL, 2, 4, True, requests=100), "at least as many connections as threads"),
    (Weighttp05(), Load(URL, 100, 1, True, requests=10), "weighttp needs requests >= concurrency"),
    (Weighttp04(), Load(URL, 100, 1, True, requests=10), "weighttp needs requests >= concurrency"),
    (Weighttp04(), Load(URL, 10, 1, True, requests=100, pipeline=16), "^weighttp 0.4 cannot pipeline requests"),
    (Weighttp05(), Load(URL, 10, 1, False, requests=100, pipeline=16), r"^--pipeline 16 needs keep-alive"),
])
def test_command_refuses_what_the_tool_cannot_do(generator, load, message):
    with pytest.raises(BenchError, match=message):
        generator.command(load, "tool")


# -- which weighttp: its version picks the format -----------------------------------------

# Stand-ins, so detection is tested without a build (the real builds run below); they print
# what each version prints for -V / -v, taken from weighttp's source; the probing is real.
FAKE_WEIGHTTP = {
    "0.5": """#!/bin/sh
case "$1" in
  -V) printf '\\nweighttp 0.5 - lightweight and simple webserver benchmarking tool\\n\\n' ;;
  *) echo "error: unknown option: $1" >&2; exit 1 ;;
esac
""",
    "0.4": """#!/bin/sh
printf 'weighttp 0.4 - a lightweight and simple webserver benchmarking tool\\n\\n'
case "$1" in
  -v) printf 'version:    0.4\\nbuild-date: Jul  1 2013 12:00:00\\n\\n' ;;
  *) echo "error: unkown option: -V" >&2; exit 1 ;;
esac
""",
    "0.3": """#!/bin/sh
printf 'version:    0.3\\nbuild-date: Jul  1 2012 12:00:00\\n\\n'
""",
    "none": "#!/bin/sh\necho 'segmentation fault' >&2\nexit 139\n",
}


def _install_fake(folder: Path, flavour: str) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "weighttp"
    path.write_text(FAKE_WEIGHTTP[flavour])
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return str(path)


@pytest.mark.parametrize("flavour, generator", [("0.5", Weighttp05), ("0.4", Weighttp04), ("0.3", Weighttp04)])
def test_detect_prefers_weighttp_in_search_dirs_and_tells_its_version(tmp_path, flavour, generator):
    fake = _install_fake(tmp_path / "bin", flavour)
    found, binary = detect(LocalHost(), None, ["weighttp", "wrk", "h2load"], [str(tmp_path / "missing"), str(tmp_path / "bin")])
    assert (type(found), binary) == (generator, fake)
    assert Weighttp.version(LocalHost(), fake) == f"weighttp {flavour}"


def test_detect_prefer_wrk_wins_over_weighttp(tmp_path):
    _install_fake(tmp_path, "0.5")
    found, binary = detect(LocalHost(), "wrk", ["weighttp", "wrk"], [str(tmp_path)])
    assert found.name == "wrk" and binary == shutil.which("wrk")


def test_detect_refuses_a_weighttp_that_says_nothing(tmp_path):
    _install_fake(tmp_path, "none")
    with pytest.raises(BenchError, match="cannot tell which load generator .* segmentation fault.*--only weighttp"):
        detect(LocalHost(), "weighttp", ["weighttp"], [str(tmp_path)])


def mirror_problem(mirror: str | None) -> str | None:
    """Why the real-weighttp tests cannot run, as a skip reason that says how to make them run; None when they can."""
    archives = [f"weighttp-{version}.tar.gz" for version in VERSIONS]
    how = (f"set {MIRROR_VARIABLE} to a folder holding {' and '.join(archives)} "
           f"(the release archives of https://github.com/lighttpd/weighttp/tags)")
    if not mirror:
        return f"real weighttp: no release archives ({MIRROR_VARIABLE} is not set): {how}"
    absent = [name for name in archives if not (Path(mirror) / name).is_file()]
    if absent:
        return f"real weighttp: {mirror} lacks {', '.join(absent)}: {how}"
    return None


@pytest.fixture(scope="session")
def weighttp(tmp_path_factory) -> dict[str, str]:
    """version -> the weighttp binary `inv setup --mirror` built from the release archive, each in a prefix of its own."""
    mirror = os.environ.get(MIRROR_VARIABLE)
    problem = mirror_problem(mirror)
    if problem:
        pytest.skip(problem)
    root = tmp_path_factory.mktemp("weighttp")
    built = {}
    for version in VERSIONS:
        settings = plain(project_config().setup)
        settings.update(prefix=str(root / version), cache=str(root / "cache"), mirrors=[mirror])
        settings["weighttp"]["version"] = version
        said = []
        entry = setup_host(LocalHost(), settings, only="weighttp", log=said.append)["tools"]["weighttp"]
        assert entry["source"]["kind"] == "tarball", said
        assert any(f"copying weighttp-{version}.tar.gz from the mirror" in line for line in said), said
        built[version] = entry["path"]
    return built


@pytest.fixture(scope="module")
def nginx_url():
    """A real nginx serving the 40-byte page at / (and 404 for anything else) on a loopback port."""
    root = Path(tempfile.mkdtemp(prefix="weighttp-nginx-"))
    root.chmod(0o755)  # its workers run as nobody
    (root / "index.html").write_bytes(BODY)
    (root / "index.html").chmod(0o644)
    port = free_port(1)
    temp_paths = "".join(f"{kind}_temp_path {root}/{kind}_temp; " for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (root / "nginx.conf").write_text(
        f"worker_processes 1;\npid {root}/nginx.pid;\nerror_log {root}/error.log;\n"
        f"events {{ worker_connections 4096; }}\n"
        f"http {{ {temp_paths} access_log off; keepalive_requests 1000000;\n"
        f"  server {{ listen 127.0.0.1:{port} backlog=4096; root {root}; }} }}\n")
    host = LocalHost()
    pid = host.start(["nginx", "-c", f"{root}/nginx.conf", "-e", f"{root}/error.log", "-g", "daemon off;"],
                     str(root / "nginx.out"))
    try:
        wait_accepting(port, lambda: host.alive(pid), "nginx")
        yield f"http://127.0.0.1:{port}/"
    finally:
        host.stop(pid)
        shutil.rmtree(root)


@pytest.fixture(scope="module")
def twisted_url(tmp_path_factory):
    pid, url = start_twisted(tmp_path_factory.mktemp("twisted"))
    yield url
    LocalHost().stop(pid)


def measure(weighttp, version: str, load: Load, name: str):
    """Run weighttp ``version`` as `inv bench` does; the output is saved as fixture ``name`` when recording."""
    result = run(LocalHost(), GENERATORS[version], weighttp[version], load, timeout=120)
    if os.environ.get("BENCH_RECORD_FIXTURES"):
        (FIXTURES / f"weighttp-{version}-{name}.stdout").write_text(result.raw)
    return result


# -- what the archives build ---------------------------------------------------------------

@needs_archives
@pytest.mark.parametrize("version", VERSIONS)
def test_setup_built_the_release_that_says_its_version(weighttp, version):
    said = LocalHost().run(f"{weighttp[version]} -v 2>&1; {weighttp[version]} -V 2>&1", warn=True).stdout
    assert f"weighttp {version} - " in said


def test_a_missing_mirror_is_a_skip_that_says_how_to_provide_one(tmp_path):
    assert mirror_problem(None).endswith("(the release archives of https://github.com/lighttpd/weighttp/tags)")
    assert f"set {MIRROR_VARIABLE} to a folder holding weighttp-0.5.tar.gz and weighttp-0.4.tar.gz" in mirror_problem(None)
    assert mirror_problem(str(tmp_path)).startswith(f"real weighttp: {tmp_path} lacks weighttp-0.5.tar.gz, weighttp-0.4.tar.gz")


# -- clean runs ----------------------------------------------------------------------------

@needs_archives
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("server", ["nginx", "twisted"])
@pytest.mark.parametrize("keepalive", [True, False], ids=["keepalive", "close"])
def test_a_full_run_is_clean_and_counts_every_request(weighttp, nginx_url, twisted_url, version, server, keepalive):
    url = nginx_url if server == "nginx" else twisted_url
    requests = 2000
    result = measure(weighttp, version, Load(url, 20, 2, keepalive, requests=requests),
                     f"{server}-{'keepalive' if keepalive else 'close'}")
    assert result.clean, result.raw[-600:]
    assert result.succeeded == result.requests_done == result.status["2xx"] == requests
    assert result.req_per_s > 0 and result.bytes_total > requests * len(BODY)
    assert ("-k" in result.command.split()) is keepalive
    assert bool(result.latency_us) is (version == "0.5")  # only 0.5 reports latency


# -- runs with failures: never a clean number -----------------------------------------------

@needs_archives
@pytest.mark.parametrize("version", VERSIONS)
def test_a_refused_port_fails_every_request(weighttp, version):
    with socket.socket() as held:  # bound, never listening: refused
        held.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{held.getsockname()[1]}/"
        result = measure(weighttp, version, Load(url, 10, 1, True, requests=200), "refused")
    assert not result.clean
    assert (result.succeeded, result.failed, result.requests_done) == (0, 200, 200)
    assert result.req_per_s > 0  # the tool's own rate still looks like a number
    # 0.4 says "connect() failed: Connection refused" per attempt; 0.5 only counts them as failed
    assert ("Connection refused" in result.raw) is (version == "0.4")


@needs_archives
@pytest.mark.parametrize("version", VERSIONS)
def test_404s_are_failures_however_fast(weighttp, nginx_url, version):
    result = measure(weighttp, version, Load(nginx_url + "missing", 10, 1, True, requests=1000), "404")
    assert not result.clean
    assert (result.succeeded, result.failed, result.status["4xx"], result.status["2xx"]) == (0, 1000, 1000, 0)


@needs_archives
@pytest.mark.parametrize("version", VERSIONS)
def test_a_server_killed_mid_run_leaves_failures(weighttp, tmp_path, version):
    pid, url = start_twisted(tmp_path)
    host = LocalHost()
    killer = threading.Timer(0.5, lambda: host.run(f"kill -9 {pid}", warn=True))
    killer.start()
    try:
        # Far more requests than the server answers in the 0.5 s before it is killed.
        result = measure(weighttp, version, Load(url, 10, 1, True, requests=50000), "killed")
    finally:
        killer.cancel()
        host.stop(pid)
    assert not result.clean
    assert 0 < result.succeeded < 50000 and result.failed + result.errored == 50000 - result.succeeded
    # Its own complaints, when it makes any, are kept in raw; it makes none for a connection the dying server closed
    # cleanly (weighttp 0.5 counts that as an error without a word: seen once in CI), so only the run is asserted.
    assert f"weighttp {version}" in result.raw


@needs_archives
def test_live_pipelined_response_times_are_gaps_between_answers(weighttp, nginx_url):
    """Why the parser drops them: by Little's law, with at least 4 requests waiting on each of 10 connections a
    request's mean latency is at least 40 / req_per_s; weighttp's mean 'response time' under -K 16 comes out far
    below that, as gaps between answers do. (Comparing medians with -K 1 was tried: too close under CI's load.)"""
    result = measure(weighttp, "0.5", Load(nginx_url, 10, 1, True, requests=20_000, pipeline=16), "pipelined")
    said = json.loads(result.raw[result.raw.index("{"):result.raw.rindex("}") + 1])["response_times"]
    in_flight_floor_us = 10 * 4 / result.req_per_s * 1e6
    print(f"weighttp's mean {said['avg']} us against a latency of at least {in_flight_floor_us:.0f} us")
    assert said["avg"] < in_flight_floor_us / 2
    assert result.clean and result.succeeded == 20_000 and result.latency_us == {}


# -- which limit ends a run: the request count or -a (weighttp 0.5 only) -----------------------

@needs_archives
def test_the_request_count_reached_before_a(weighttp, nginx_url):
    result = measure(weighttp, "0.5", Load(nginx_url, 10, 1, True, requests=3000, duration=30), "count-before-a")
    assert result.command.split()[1:5] == ["-n", "3000", "-a", "30"]
    assert result.clean and result.succeeded == result.requests_done == 3000
    assert result.seconds < 30


@needs_archives
def test_a_reached_before_the_request_count(weighttp, nginx_url):
    load = Load(nginx_url, 10, 1, True, duration=1)
    result = measure(weighttp, "0.5", load, "a-before-count")
    assert result.command.split()[1:5] == ["-n", str(WEIGHTTP_REQUESTS), "-a", "1"]
    assert result.clean, result.raw[-600:]  # requests cut off by -a are neither failed nor errored
    assert 0 < result.succeeded == result.requests_done < WEIGHTTP_REQUESTS
    assert 1.0 <= result.seconds < 1.5
    assert not Weighttp05().ran_out(load, result)


@needs_archives
def test_a_timed_run_that_uses_up_its_sized_requests_is_marked(weighttp, nginx_url):
    # An expected rate far below Nginx's: -n is the floor, used up long before -a 10.
    load = Load(nginx_url, 10, 1, True, duration=10, rate=1.0)
    loaders = [Loader(LocalHost(), GENERATORS["0.5"], weighttp["0.5"])]
    watched = subprocess.Popen(["sleep", "60"])  # the window needs a server process; this one idles
    try:
        with sessions_for(loaders) as sessions:
            result = run_round(sessions, loaders, load, timeout=60, window=Window(LocalHost(), watched.pid, start_time(watched.pid)))
    finally:
        watched.kill()
        watched.wait()
    assert result.command.split()[1:5] == ["-n", str(WEIGHTTP_MIN_REQUESTS), "-a", "10"]
    assert result.clean and result.requests_done == WEIGHTTP_MIN_REQUESTS and result.seconds < 9
    assert Weighttp05().ran_out(load, result) and result.sample["exhausted"] is True


@needs_archives
def test_weighttp_04_has_no_a_and_the_harness_never_asks_it(weighttp, nginx_url):
    with pytest.raises(BenchError, match="weighttp 0.4 cannot stop after a duration"):
        GENERATORS["0.4"].command(Load(nginx_url, 10, 1, True, duration=1), weighttp["0.4"])
    said = LocalHost().run(f"{weighttp['0.4']} -n 100 -a 1 -c 10 {nginx_url} 2>&1", warn=True).stdout
    if os.environ.get("BENCH_RECORD_FIXTURES"):
        (FIXTURES / "weighttp-0.4-a-unknown.stdout").write_text(said)
    assert "-n num   number of requests" in said  # it answers with its usage ...
    with pytest.raises(BenchError, match="weighttp-0.4 printed no result"):
        GENERATORS["0.4"].parse(said, "cmd")  # ... which is no result, never a number


# -- the recorded outputs, parsed (no build needed) --------------------------------------------

RECORDED = [  # fixture, requests done, succeeded, failed, errored, clean: read off each file
    ("0.5-nginx-keepalive", 2000, 2000, 0, 0, True), ("0.4-nginx-keepalive", 2000, 2000, 0, 0, True),
    ("0.5-nginx-close", 2000, 2000, 0, 0, True), ("0.4-nginx-close", 2000, 2000, 0, 0, True),
    ("0.5-twisted-keepalive", 2000, 2000, 0, 0, True), ("0.4-twisted-keepalive", 2000, 2000, 0, 0, True),
    ("0.5-twisted-close", 2000, 2000, 0, 0, True), ("0.4-twisted-close", 2000, 2000, 0, 0, True),
    ("0.5-refused", 200, 0, 200, 0, False), ("0.4-refused", 200, 0, 200, 0, False),
    ("0.5-404", 1000, 0, 1000, 0, False), ("0.4-404", 1000, 0, 1000, 0, False),
    ("0.5-killed", 5000, 1287, 3713, 0, False), ("0.4-killed", 5000, 1155, 3845, 0, False),
    ("0.5-count-before-a", 3000, 3000, 0, 0, True), ("0.5-a-before-count", 16608, 16608, 0, 0, True),
]


@pytest.mark.parametrize("name, done, succeeded, failed, errored, clean", RECORDED, ids=[row[0] for row in RECORDED])
def test_recorded_output_parses_to_what_the_run_was(name, done, succeeded, failed, errored, clean):
    version = name.split("-")[0]
    result = GENERATORS[version].parse((FIXTURES / f"weighttp-{name}.stdout").read_text(), "cmd")
    assert (result.requests_done, result.succeeded, result.failed, result.errored) == (done, succeeded, failed, errored)
    assert result.clean is clean and result.req_per_s > 0  # a rate is printed either way; only clean says it counts
