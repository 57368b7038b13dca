"""Load generators: command lines, parsers on real captured output, and real wrk runs on loopback."""
from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import stat
import time
from pathlib import Path

import psutil
import pytest

from bench.errors import BenchError
from bench.hosts import LocalHost
from bench.measure.loadgen import (
    GENERATORS,
    WEIGHTTP_MAX_REQUESTS,
    WEIGHTTP_MIN_REQUESTS,
    WEIGHTTP_REQUESTS,
    WRK_TIMEOUT_S,
    Weighttp04,
    Weighttp05,
    Wrk,
    detect,
    parse_output,
    version,
)
from bench.measure.loading import command_line, run
from bench.records import Load

FIXTURES = Path(__file__).parent / "fixtures" / "loadgen"
URL = "http://127.0.0.1:8080/"


# -- parsing real output ---------------------------------------------------------------

# Expected values are read off the fixture files (see their README for how each was made).
PARSED = [
    pytest.param(
        "weighttp-0.5-keepalive.stdout", "weighttp-0.5",
        dict(seconds=0.661937, req_per_s=151071, kbyte_per_s=40718, requests_started=100000, requests_done=100000,
             succeeded=100000, failed=0, errored=0, status={"2xx": 100000, "3xx": 0, "4xx": 0, "5xx": 0},
             bytes_total=27600000),
        {"p50": 299, "p90": 1592, "p99": 4859, "p100": 12963, "mean": 638},
        True, id="weighttp-0.5-keepalive"),
    pytest.param(
        "weighttp-0.5-close.stdout", "weighttp-0.5",
        dict(seconds=0.377041, req_per_s=53044, kbyte_per_s=530236, requests_started=20000, requests_done=20000,
             succeeded=20000, failed=0, errored=0, status={"2xx": 20000, "3xx": 0, "4xx": 0, "5xx": 0},
             bytes_total=204720000),
        {"p0": 17, "p50": 393, "p90": 1726, "p99": 3535, "mean": 695},
        True, id="weighttp-0.5-close"),
    pytest.param(
        "weighttp-0.5-404-quiet.stdout", "weighttp-0.5",
        dict(seconds=0.030229, req_per_s=165404, kbyte_per_s=49720, requests_started=5000, requests_done=5000,
             succeeded=0, failed=5000, errored=0, status={"2xx": 0, "3xx": 0, "4xx": 5000, "5xx": 0},
             bytes_total=1540000),
        {"p50": 98, "p99": 310},
        False, id="weighttp-0.5-404"),
    pytest.param(
        "weighttp-0.4-keepalive.stdout", "weighttp-0.4",
        dict(seconds=16.021887, req_per_s=62414, kbyte_per_s=10239, requests_started=1000000, requests_done=1000000,
             succeeded=1000000, failed=0, errored=0, status={"2xx": 1000000, "3xx": 0, "4xx": 0, "5xx": 0},
             bytes_total=168000000),
        {},
        True, id="weighttp-0.4-keepalive"),
    pytest.param(
        "wrk-keepalive.stdout", "wrk",
        dict(seconds=1.0, req_per_s=63528.75, kbyte_per_s=16.72 * 1024, requests_started=None, requests_done=63633,
             succeeded=63633, failed=0, errored=0, status={"2xx": 63633, "other": 0},
             bytes_total=round(16.75 * 1024**2)),
        {"p50": 737, "p75": 860, "p90": 1000, "p99": 1360, "p100": 4270, "mean": 788.73},
        True, id="wrk-keepalive"),
    pytest.param(
        "wrk-close.stdout", "wrk",
        dict(seconds=1.0, req_per_s=19907.03, kbyte_per_s=5.14 * 1024, requests_done=19923,
             succeeded=19923, failed=0, errored=0, status={"2xx": 19923, "other": 0},
             bytes_total=round(5.15 * 1024**2)),
        {"p50": 379, "p99": 1170},
        True, id="wrk-close"),
    pytest.param(
        "wrk-404.stdout", "wrk",
        dict(seconds=1.1, req_per_s=85892.11, kbyte_per_s=25.23 * 1024, requests_done=94493,
             succeeded=0, failed=94493, errored=0, status={"2xx": 0, "other": 94493},
             bytes_total=round(27.76 * 1024**2)),
        {"p50": 218, "p99": 411},
        False, id="wrk-404"),
    pytest.param(
        "wrk-reset.stdout", "wrk",
        dict(seconds=1.1, req_per_s=0, kbyte_per_s=0, requests_done=0,
             succeeded=0, failed=0, errored=6130 + 28678, status={"2xx": 0, "other": 0}, bytes_total=0, latency_us={}),
        {},
        False, id="wrk-reset"),
    pytest.param(
        "wrk-refused.stderr", "wrk",
        dict(req_per_s=0, requests_done=0, succeeded=0, failed=0, errored=1, latency_us={}),
        {},
        False, id="wrk-refused"),
]


@pytest.mark.parametrize("fixture, tool, fields, latency, clean", PARSED)
def test_parse_fixture(fixture, tool, fields, latency, clean):
    text = (FIXTURES / fixture).read_text()
    result = parse_output(tool, text, "the command")
    for name, expected in fields.items():
        assert getattr(result, name) == pytest.approx(expected), name
    for key, expected in latency.items():
        assert result.latency_us[key] == pytest.approx(expected), key
    assert result.clean is clean
    assert (result.tool, result.command, result.raw) == (tool, "the command", text)


@pytest.mark.parametrize("fixture, tool", [("weighttp-0.5-404-quiet.stdout", "weighttp-0.5"), ("wrk-404.stdout", "wrk")])
def test_every_answer_404_is_no_success_despite_a_large_rate(fixture, tool):
    result = parse_output(tool, (FIXTURES / fixture).read_text(), "cmd")
    assert result.req_per_s > 1000  # the tool's own figure looks great ...
    assert result.succeeded == 0 and result.failed == result.requests_done == result.non_2xx > 0
    assert not result.clean  # ... and the verdict says it counts for nothing


def test_weighttp_05_json_found_between_banner_and_trailing_text():
    banner = (FIXTURES / "weighttp-0.5-keepalive.stdout").read_text().split("{", 1)[0]
    quiet = (FIXTURES / "weighttp-0.5-404-quiet.stdout").read_text()
    result = parse_output("weighttp-0.5", banner + quiet + "error: something on stderr\n", "cmd")
    assert result.requests_done == 5000 and result.status["4xx"] == 5000


def test_weighttp_05_nothing_finished_is_a_failed_result():
    # weighttp 0.5's weighttp_report() prints only this line, to stderr, when no request finished.
    result = parse_output("weighttp-0.5", "\nweighttp 0.5 - lightweight ...\n\nerror: request_count 0\n", "cmd")
    assert (result.requests_done, result.succeeded, result.clean) == (0, 0, False)


@pytest.mark.parametrize("tool, text", [
    ("weighttp-0.5", (FIXTURES / "weighttp-0.5-close.stdout").read_text()[:900]),  # cut off mid-JSON
    ("weighttp-0.4", (FIXTURES / "weighttp-0.4-keepalive.stdout").read_text().split("finished")[0]),
    ("wrk", (FIXTURES / "wrk-keepalive.stdout").read_text().split("  Latency Distribution")[0]),
])
def test_unparseable_output_says_so_with_its_tail(tool, text):
    last_line = text.strip().splitlines()[-1].strip()
    with pytest.raises(BenchError, match=rf"{tool} printed no result.*{re.escape(last_line)}"):
        parse_output(tool, text, "cmd")


def test_unknown_tool_is_refused():
    with pytest.raises(BenchError, match="unknown load generator 'ab'"):
        parse_output("ab", "", "cmd")


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
    pytest.param(Weighttp04(), Load(URL, 4000, 4, True, requests=1000000),
                 ["weighttp", "-n", "1000000", "-c", "4000", "-t", "4", "-k", URL], id="w04-seed-keepalive"),
    pytest.param(Weighttp04(), Load(URL, 500, 4, False, requests=100000, duration=3),
                 ["weighttp", "-n", "100000", "-c", "500", "-t", "4", URL], id="w04-close-ignores-duration"),
    pytest.param(Wrk(), Load(URL, 200, 1, True, duration=3),
                 ["wrk", "-c", "200", "-t", "1", "-d", "3s", "--timeout", f"{WRK_TIMEOUT_S}s", "--latency", URL],
                 id="wrk-keepalive"),
    pytest.param(Wrk(), Load(URL, 50, 2, False, duration=0.2, requests=999),
                 ["wrk", "-c", "50", "-t", "2", "-d", "1s", "--timeout", f"{WRK_TIMEOUT_S}s", "--latency",
                  "-H", "Connection: close", URL], id="wrk-close-fraction-ignores-requests"),
]


@pytest.mark.parametrize("generator, load, argv", COMMANDS)
def test_command(generator, load, argv):
    assert generator.command(load, argv[0]) == argv


@pytest.mark.parametrize("generator, load, message", [
    (Weighttp04(), Load(URL, 10, 1, True, duration=3), "weighttp 0.4 cannot stop after a duration: give the load requests"),
    (Wrk(), Load(URL, 10, 1, True, requests=1000), "wrk runs for a duration"),
    (Weighttp05(), Load(URL, 10, 1, True), "neither requests nor a duration"),
    (Weighttp05(), Load(URL, 2, 4, True, requests=100), "at least as many connections as threads"),
    (Weighttp04(), Load(URL, 2, 4, True, requests=100), "at least as many connections as threads"),
    (Wrk(), Load(URL, 2, 4, True, duration=1), "at least as many connections as threads"),
    (Weighttp05(), Load(URL, 100, 1, True, requests=10), "requests >= concurrency"),
    (Weighttp04(), Load(URL, 100, 1, True, requests=10), "requests >= concurrency"),
])
def test_command_refuses_what_the_tool_cannot_do(generator, load, message):
    with pytest.raises(BenchError, match=message):
        generator.command(load, "tool")


@pytest.mark.parametrize("binary, cpus, prefix", [
    ("wrk", (), "wrk -c 8"),
    ("wrk", (0,), "taskset -c 0 wrk -c 8"),
    ("wrk", (0, 2, 3), "taskset -c 0,2-3 wrk -c 8"),
    ("/opt/my tools/wrk", (1,), "taskset -c 1 '/opt/my tools/wrk' -c 8"),
])
def test_command_line_pins_with_taskset(binary, cpus, prefix):
    load = Load(URL, 8, 1, True, duration=1)
    text = command_line(Wrk(), load, binary, cpus)
    assert text.startswith(prefix + " ") and text.endswith(" --latency " + URL)
    pinned = ["taskset", "-c", prefix.split()[2]] if cpus else []
    assert shlex.split(text) == pinned + Wrk().command(load, binary)


def test_generators_are_named_as_in_results():
    assert {name: type(g) for name, g in GENERATORS.items()} == {
        "weighttp-0.5": Weighttp05, "weighttp-0.4": Weighttp04, "wrk": Wrk}


# -- detection --------------------------------------------------------------------------

# Stand-ins, so detection is tested without a build (test_weighttp.py runs the real ones); they print
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
    "none": "#!/bin/sh\necho 'segmentation fault' >&2\nexit 139\n",
}


def _install_fake(folder: Path, flavour: str) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "weighttp"
    path.write_text(FAKE_WEIGHTTP[flavour])
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return str(path)


class BarePathHost(LocalHost):
    """This machine with PATH cut down to one folder: nothing is installed on it."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def run(self, command, **kwargs):
        return super().run(f"PATH={shlex.quote(self.path)}; {command}", **kwargs)

    def begin(self, command):
        return super().begin(f"PATH={shlex.quote(self.path)}; {command}")


@pytest.mark.parametrize("flavour, generator", [("0.5", Weighttp05), ("0.4", Weighttp04)])
def test_detect_prefers_weighttp_in_search_dirs_and_tells_its_version(tmp_path, flavour, generator):
    fake = _install_fake(tmp_path / "bin", flavour)
    found, binary = detect(LocalHost(), None, [str(tmp_path / "missing"), str(tmp_path / "bin")])
    assert (type(found), binary) == (generator, fake)
    assert version(LocalHost(), fake) == f"weighttp {flavour}"


def test_detect_prefer_wrk_wins_over_weighttp(tmp_path):
    _install_fake(tmp_path, "0.5")
    found, binary = detect(LocalHost(), "wrk", [str(tmp_path)])
    assert type(found) is Wrk and binary == shutil.which("wrk")
    assert version(LocalHost(), binary).startswith("wrk ")


def test_detect_falls_back_to_wrk_on_path(tmp_path):
    shutil.copy(shutil.which("wrk"), tmp_path / "wrk")
    found, binary = detect(BarePathHost(str(tmp_path)), None, [])
    assert type(found) is Wrk and binary == str(tmp_path / "wrk")


def test_detect_nothing_installed(tmp_path):
    with pytest.raises(BenchError) as error:
        detect(BarePathHost(str(tmp_path)), None, [str(tmp_path)])
    assert str(error.value) == ("no load generator found: run `inv setup` (installs wrk and weighttp) "
                                "or `apt-get install wrk`")
    with pytest.raises(BenchError, match=r"weighttp not found on local \(looked in .*, PATH\): run `inv setup`"):
        detect(BarePathHost(str(tmp_path)), "weighttp", [str(tmp_path)])


def test_detect_refuses_a_weighttp_that_says_nothing(tmp_path):
    _install_fake(tmp_path, "none")
    with pytest.raises(BenchError, match="cannot tell which load generator .* segmentation fault"):
        detect(LocalHost(), "weighttp", [str(tmp_path)])


def test_detect_refuses_unknown_preference():
    with pytest.raises(BenchError, match="choose weighttp or wrk"):
        detect(LocalHost(), "ab", [])


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
    result = run(LocalHost(), GENERATORS["wrk"], "wrk", Load(url, 8, 1, keepalive, duration=1), timeout=30)
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
    result = run(LocalHost(), GENERATORS["wrk"], "wrk", load, timeout=30)
    assert (result.clean, result.succeeded, result.requests_done, result.errored) == (False, 0, 0, 1)
    assert "Connection refused" in result.raw


def test_run_stops_a_load_that_outlives_its_timeout(nginx):
    url = nginx[0] + "?timeout-test"
    with pytest.raises(BenchError, match=r"local: the load did not end within 0.5s"):
        run(LocalHost(), GENERATORS["wrk"], "wrk", Load(url, 2, 1, True, duration=5), timeout=0.5)
    time.sleep(0.1)
    assert not [p for p in psutil.process_iter(["cmdline"]) if url in (p.info["cmdline"] or [])]


def test_run_with_output_that_says_nothing(nginx):
    with pytest.raises(BenchError, match=r"wrk printed no result; check the URL and the tool: .*--latency"):
        run(LocalHost(), GENERATORS["wrk"], "/bin/echo", Load(nginx[0], 2, 1, True, duration=1), timeout=30)



needs_taskset = pytest.mark.skipif(shutil.which("taskset") is None, reason="taskset is not installed (apt-get install util-linux)")
# A wrk that first says where it may run, so the run's own output shows the pinning took.
WHERE_WRK = '#!/bin/sh\ngrep Cpus_allowed_list /proc/self/status >&2\nexec {wrk} "$@"\n'


@needs_taskset
@pytest.mark.parametrize("cpu", sorted(os.sched_getaffinity(0))[:2])
def test_live_wrk_pinned_with_taskset(nginx, tmp_path, cpu):
    wrapper = tmp_path / "wrk"
    wrapper.write_text(WHERE_WRK.format(wrk=shutil.which("wrk")))
    wrapper.chmod(0o755)
    result = run(LocalHost(), GENERATORS["wrk"], str(wrapper), Load(nginx[0], 8, 1, True, duration=1), timeout=30,
                 cpus=(cpu,))
    assert result.command.startswith(f"taskset -c {cpu} {wrapper} -c 8 ")
    assert result.clean and result.succeeded == result.requests_done > 0
    assert re.search(rf"^Cpus_allowed_list:\s+{cpu}$", result.raw, re.MULTILINE)


@needs_taskset
def test_live_taskset_refusing_the_cpus_is_one_clear_error(nginx):
    with pytest.raises(BenchError, match=r"^taskset could not pin the load generator to CPUs 4095 on local "
                                         r"\(failed to set pid \d+'s affinity: .*\): pick --load-cpus"):
        run(LocalHost(), GENERATORS["wrk"], "wrk", Load(nginx[0], 2, 1, True, duration=1), timeout=30, cpus=(4095,))


def test_live_taskset_missing_is_one_clear_error(nginx, tmp_path):
    shutil.copy(shutil.which("wrk"), tmp_path / "wrk")
    with pytest.raises(BenchError, match=r"^taskset is not installed on local: apt-get install util-linux"):
        run(BarePathHost(str(tmp_path)), GENERATORS["wrk"], "wrk", Load(nginx[0], 2, 1, True, duration=1),
            timeout=30, cpus=(0,))
