"""wrk2 (giltene/wrk2): a constant request rate, latency corrected for coordinated omission.

wrk2 is wrk that sends each connection's requests on a schedule (``-R``, total req/s) whether or
not the answers keep up, and records each request's latency from the moment it was *due*
(HdrHistogram): a server that stalls shows its stall in every request that waited behind it,
instead of slowing the load down and hiding it (coordinated omission). With ``-U`` it also prints
the uncorrected latency, from each request's actual send, as closed-loop tools measure it.

Calibration: each thread records nothing it keeps for its first 10 s plus 5 ms per connection of
the thread (``CALIBRATE_DELAY_MS`` in wrk2's wrk.h, and README); then it resets its histograms.
So the percentiles cover only the rest of the run, and a run too short to get past calibration
reports its start-up instead: :class:`Wrk2` refuses a run shorter than its calibration plus
``MIN_RECORDED_S``, and the parser gives no percentiles when a thread never calibrated.
Requests and Requests/sec count the whole run, calibration included: the achieved rate. A thread connects its
connections 5 ms apart (``delayed_initial_connect``), each sending on its own schedule from its connect on, so over
the whole run wrk2 sends less than ``-R``, whatever the server: measured here against an idle Nginx (200
connections, 13 s), either 96.5 % of it (the connects staggered) or exactly 12/13 of it (every connection's
schedule starting only once the last had connected), from one run to the next. ``scheduled_per_s`` is the
least of the two, what the achieved rate is held to: a server is never said to fall behind for wrk2's start.

How its output maps to a :class:`~bench.records.LoadResult`, beyond wrk's (see ``loadgen``):
``-R`` -> offered_per_s (and scheduled_per_s); the "Recorded Latency" percentiles -> latency_us (p50, p75, p90, p99,
p99.9, p99.99, p99.999, p100) and its ``#[Mean`` -> mean; the "Uncorrected Latency" ones ->
uncorrected_us; "Socket errors: connect, read, write, timeout" -> socket_errors (their sum is
``errored``). wrk2 calls itself "wrk 4.0.0": built by `inv setup` from its pinned source archive
(setup.wrk2) and installed as ``wrk2``, it is never taken for wrk 4.1.
"""
from __future__ import annotations

import math
import re

from bench.records import Load, LoadResult

from .generator import Capabilities, flag_value, whole_seconds
from .wrk import TIME_US, WRK_TIMEOUT_S, Wrk

CALIBRATION_S = 10.0  # wrk2's calibration period per thread, before 5 ms per connection of the thread
CALIBRATION_PER_CONNECTION_S = 0.005
MIN_RECORDED_S = 2.0  # what a run must record past its calibration, at least

_SECTION = re.compile(r"^\s*Latency Distribution \(HdrHistogram - (Recorded|Uncorrected) Latency", re.MULTILINE)
_PERCENTILE = re.compile(r"^\s*(\d+(?:\.\d+)?)%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.MULTILINE)
_MEAN = re.compile(r"^#\[Mean\s+=\s+([\d.]+),", re.MULTILINE)  # milliseconds


def calibration_s(connections: int, threads: int) -> float:
    """How long each thread of a run calibrates before it records latency."""
    return CALIBRATION_S + CALIBRATION_PER_CONNECTION_S * math.ceil(connections / threads)


def shortest_run_s(connections: int, threads: int) -> int:
    """The whole seconds a run needs to record ``MIN_RECORDED_S`` past its calibration."""
    return math.ceil(calibration_s(connections, threads) + MIN_RECORDED_S)


class Wrk2(Wrk):
    """wrk2: runs for a duration at a fixed rate; corrected and uncorrected latency percentiles."""

    name = program = title = "wrk2"
    capabilities = Capabilities(duration=True, latency=True, fixed_rate=True, closed_loop=False)
    setup = "build"

    def refusal(self, load: Load) -> str | None:
        problem = super().refusal(load)
        if problem:
            return problem
        if load.offered is None or load.offered < 1:
            return ("wrk2 sends at a fixed rate: it makes `inv bench --latency`'s sweep (an offered rate of at "
                    "least 1 req/s), not the throughput rounds: pass another --loadgen")
        seconds, shortest = whole_seconds(load.duration), shortest_run_s(load.concurrency, load.threads)
        if seconds < shortest:
            return (f"a wrk2 run of {seconds}s keeps no latency: each thread calibrates for "
                    f"{calibration_s(load.concurrency, load.threads):g}s first ({load.concurrency} connections on "
                    f"{load.threads} threads); give it at least {shortest}s")
        return None

    def argv(self, load: Load, binary: str) -> list[str]:
        argv = [binary, "-c", str(load.concurrency), "-t", str(load.threads), "-d", f"{whole_seconds(load.duration)}s",
                "-R", str(round(load.offered)), "--timeout", f"{WRK_TIMEOUT_S}s", "--latency", "-U"]
        if not load.keepalive:
            argv += ["-H", "Connection: close"]
        return argv + [load.url]

    @classmethod
    def read_version(cls, said: str) -> str | None:
        """wrk2 keeps wrk's banner ("wrk 4.0.0 [epoll]"); only its usage's ``--rate`` tells it from wrk."""
        found = super().read_version(said)
        return f"wrk2 ({found})" if found and "--rate" in said else None

    def parse(self, stdout: str, command: str) -> LoadResult:
        result = super().parse(stdout, command)
        result.offered_per_s = offered(command)
        result.scheduled_per_s = scheduled(command)
        sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", stdout)
        if sockets:
            result.socket_errors = dict(zip(("connect", "read", "write", "timeout"), map(int, sockets.groups())))
        threads = re.search(r"^\s*(\d+) threads? and \d+ connections", stdout, re.MULTILINE)
        calibrated = len(re.findall(r"^\s*Thread calibration:", stdout, re.MULTILINE))
        sections = histograms(stdout)
        if threads and calibrated >= int(threads.group(1)) and result.requests_done:
            result.latency_us = sections.get("Recorded", {})
            result.uncorrected_us = sections.get("Uncorrected", {})
        else:  # a thread never got past its calibration: what it kept is the run's start-up
            result.latency_us, result.uncorrected_us = {}, {}
        return result


def histograms(text: str) -> dict[str, dict[str, float]]:
    """Each latency section wrk2 printed ("Recorded", "Uncorrected"): its percentiles and mean, in us."""
    found = {}
    starts = list(_SECTION.finditer(text))
    for index, start in enumerate(starts):
        end = starts[index + 1].start() if index + 1 < len(starts) else len(text)
        section = text[start.end():end]
        latency = {f"p{float(pct):g}": float(value) * TIME_US[unit] for pct, value, unit in _PERCENTILE.findall(section)}
        mean = _MEAN.search(section)
        if latency and mean:
            latency["mean"] = float(mean.group(1)) * 1000
        found[start.group(1)] = latency
    return found


def offered(command: str) -> float | None:
    """The rate a wrk2 command line asked for (``-R N`` or ``--rate N``)."""
    rate = flag_value(command, "-R", "--rate")
    return None if rate is None else float(rate)


def scheduled(command: str) -> float | None:
    """The least rate a wrk2 command line's schedule sends over its whole run: ``-R`` over the seconds left once
    the last of a thread's connections has connected (they connect ``CALIBRATION_PER_CONNECTION_S`` apart)."""
    rate, connections, threads, duration = (flag_value(command, *flags) for flags in (
        ("-R", "--rate"), ("-c", "--connections"), ("-t", "--threads"), ("-d", "--duration")))
    if rate is None or connections is None or duration is None or not duration.rstrip("s").isdigit():
        return None
    per_thread = math.ceil(int(connections) / int(threads or 1))
    seconds = int(duration.rstrip("s"))
    late = CALIBRATION_PER_CONNECTION_S * (per_thread - 1)
    return float(rate) * max(seconds - late, 0.0) / seconds if seconds else None


GENERATOR = Wrk2
