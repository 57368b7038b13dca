"""Load generators: weighttp 0.5, weighttp 0.4 and wrk.

Each tool is one class with a pure ``command(load, binary)`` (the argv to run) and a
pure ``parse(stdout, command)`` (a :class:`~bench.records.LoadResult` from what it
printed). :func:`detect` finds a tool on a host; :mod:`bench.measure.loading` runs it.

The parsers never turn a failed run into a good-looking number: weighttp 0.5 exits 0
and prints a large ``reqs_per_sec`` even when every answer was a 404 or no request
succeeded, so ``succeeded``, ``failed``, ``errored`` and ``status`` are always filled
from the tool's own counters, and ``LoadResult.clean`` says whether the figure counts.

How each tool maps to a LoadResult:

- weighttp 0.5 (JSON): ``response_counts`` pass/fail/errs -> succeeded/failed/errored,
  ``status_codes`` -> status, ``response_times`` percentiles (us) -> latency_us.
- weighttp 0.4 (text): its ``requests:``/``status codes:``/``traffic:`` lines; no latency.
- wrk: it counts answers with status >= 400 and nothing finer ("Non-2xx or 3xx
  responses: N"), so status is ``{"2xx": done - N, "other": N}`` -- "2xx" there means
  "below 400", as wrk cannot tell 3xx apart -- and N is also ``failed``. Socket errors
  (connect + read + write + timeout) are ``errored``. When wrk cannot connect at all it
  prints only "unable to connect to HOST:PORT ..." and exits 1: that is one errored
  connection and nothing done, never an unparseable run.
"""
from __future__ import annotations

import json
import math
import re
import shlex
from typing import Protocol

from bench.errors import BenchError
from bench.hosts import Host
from bench.records import Load, LoadResult

# weighttp 0.5 needs -n even when -a caps the time, and keeps a time per planned request:
# its req/s falls as -n grows (-n 50000000 gave 26-72k req/s where -n 2000000 gave 85-89k
# against one Nginx; -n 10000000 cost 2 %). So a timed load's -n is twice what the cell's
# warm-up rate makes in its seconds, within these bounds; without a rate, the default.
WEIGHTTP_REQUESTS = 2_000_000
WEIGHTTP_MIN_REQUESTS = 100_000
WEIGHTTP_MAX_REQUESTS = 10_000_000
# wrk counts a request slower than this as a timeout error (its default is 2 s).
WRK_TIMEOUT_S = 10


class LoadGenerator(Protocol):
    """What the runner needs of a load generator: its command line for a load, and a parser for what it printed."""

    name: str

    def command(self, load: Load, binary: str) -> list[str]:
        """The argv that makes ``load`` with the tool at ``binary``; a BenchError for a load it cannot make."""

    def parse(self, stdout: str, command: str) -> LoadResult:
        """What the run said, from its standard output."""


def _check_shape(load: Load) -> None:
    if load.threads < 1 or load.concurrency < load.threads:
        raise BenchError(
            f"concurrency {load.concurrency} with {load.threads} threads: "
            "give at least one thread and at least as many connections as threads"
        )


def _whole_seconds(duration: float) -> int:
    """Round a duration up to whole seconds, so a run is never cut short.

    wrk's -d rejects fractions ("0.5s" only prints its usage). For weighttp 0.5's -a the
    upstream source readable here predates the option, so fractions are not relied on.
    """
    return max(1, math.ceil(duration))


def _tail(output: str, lines: int = 5) -> str:
    text = " | ".join(line.strip() for line in output.strip().splitlines()[-lines:] if line.strip())
    return text or "no output"


def _unparseable(tool: str, output: str) -> BenchError:
    return BenchError(f"{tool} printed no result; check the URL and the tool: {_tail(output)}")


class Weighttp05:
    """weighttp 0.5 and later: JSON report, ``-a SECS`` caps a run's duration."""

    name = "weighttp-0.5"

    def command(self, load: Load, binary: str) -> list[str]:
        """``-n`` is mandatory: for a duration-only load, -n is sized from the duration and -a ends the run."""
        _check_shape(load)
        if load.requests is None and load.duration is None:
            raise BenchError("the load has neither requests nor a duration: give one of them in the profile")
        argv = [binary]
        if load.requests is not None:
            if load.requests < load.concurrency:
                raise BenchError(f"{load.requests} requests for {load.concurrency} connections: weighttp needs requests >= concurrency")
            argv += ["-n", str(load.requests)]
        else:
            argv += ["-n", str(timed_requests(load))]
        if load.duration is not None:
            argv += ["-a", str(_whole_seconds(load.duration))]
        argv += ["-c", str(load.concurrency), "-t", str(load.threads)]
        if load.keepalive:
            argv.append("-k")
        return argv + [load.url]

    def parse(self, stdout: str, command: str) -> LoadResult:
        """Read the JSON object printed after the banner and progress lines."""
        report = _json_report(stdout)
        if report is None:
            # weighttp 0.5 prints no JSON, only "error: request_count 0", when nothing finished.
            if "request_count 0" in stdout:
                return LoadResult(tool=self.name, command=command, seconds=0.0, req_per_s=0.0,
                                  kbyte_per_s=0.0, requests_done=0, raw=stdout)
            raise _unparseable(self.name, stdout)
        try:
            counts = report["request_counts"]
            responses = report["response_counts"]
            times = report.get("response_times", {})
            return LoadResult(
                tool=self.name,
                command=command,
                seconds=float(report["secs_elapsed"]),
                req_per_s=float(report["reqs_per_sec"]),
                kbyte_per_s=float(report["kBps_per_sec"]),
                requests_started=int(counts["started"]),
                requests_done=int(counts["retired"]),
                succeeded=int(responses["pass"]),
                failed=int(responses["fail"]),
                errored=int(responses["errs"]),
                status={code: int(n) for code, n in report["status_codes"].items()},
                bytes_total=int(report["traffic"]["bytes_total"]),
                latency_us=_weighttp_latency(times),
                raw=stdout,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BenchError(f"{self.name} printed a report without {exc}; is it really weighttp 0.5? {_tail(stdout)}") from None


def timed_requests(load: Load) -> int:
    """weighttp 0.5's -n for a load timed by -a: twice the expected rate × seconds (at least the
    connections), or the default when no rate is known."""
    if load.rate is None:
        return max(WEIGHTTP_REQUESTS, load.concurrency)
    planned = math.ceil(load.rate * _whole_seconds(load.duration) * 2)
    return max(min(planned, WEIGHTTP_MAX_REQUESTS), WEIGHTTP_MIN_REQUESTS, load.concurrency)


def ran_out(load: Load, result: LoadResult) -> bool:
    """A timed weighttp 0.5 run that started every request of the -n sized for it before its -a
    seconds were up: -n, not the time, ended it (the run was shorter than asked)."""
    return (result.tool == Weighttp05.name and load.duration is not None and load.requests is None
            and (result.requests_started or 0) >= timed_requests(load))


def _json_report(text: str) -> dict | None:
    """The first JSON object that starts a line and carries ``reqs_per_sec``."""
    decoder = json.JSONDecoder()
    for match in re.finditer(r"^\{", text, re.MULTILINE):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict) and "reqs_per_sec" in value:
            return value
    return None


def _weighttp_latency(times: dict) -> dict[str, float]:
    latency = {f"p{key[:-1]}": float(value) for key, value in times.items() if key.endswith("%")}
    if "avg" in times:
        latency["mean"] = float(times["avg"])
    return latency


class Weighttp04:
    """weighttp 0.4 (the seed's): a text summary, no duration cap, no latency figures."""

    name = "weighttp-0.4"

    def command(self, load: Load, binary: str) -> list[str]:
        """Only a request count ends a weighttp 0.4 run; a duration, if also given, is not used."""
        _check_shape(load)
        if load.requests is None:
            raise BenchError(
                "weighttp 0.4 cannot stop after a duration: give the load requests (e.g. the `seed` profile), "
                "or install weighttp 0.5 or wrk"
            )
        if load.requests < load.concurrency:
            raise BenchError(f"{load.requests} requests for {load.concurrency} connections: weighttp needs requests >= concurrency")
        argv = [binary, "-n", str(load.requests), "-c", str(load.concurrency), "-t", str(load.threads)]
        if load.keepalive:
            argv.append("-k")
        return argv + [load.url]

    def parse(self, stdout: str, command: str) -> LoadResult:
        finished = re.search(
            r"finished in (\d+) sec, (\d+) millisec and (\d+) microsec, (\d+) req/s, (\d+) kbyte/s", stdout)
        requests = re.search(
            r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored", stdout)
        if not (finished and requests):
            raise _unparseable(self.name, stdout)
        sec, milli, micro, rps, kbps = (int(g) for g in finished.groups())
        _, started, done, succeeded, failed, errored = (int(g) for g in requests.groups())
        codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", stdout)
        traffic = re.search(r"traffic: (\d+) bytes total", stdout)
        return LoadResult(
            tool=self.name,
            command=command,
            seconds=sec + milli / 1e3 + micro / 1e6,
            req_per_s=float(rps),
            kbyte_per_s=float(kbps),
            requests_started=started,
            requests_done=done,
            succeeded=succeeded,
            failed=failed,
            errored=errored,
            status=dict(zip(("2xx", "3xx", "4xx", "5xx"), map(int, codes.groups()))) if codes else {},
            bytes_total=int(traffic.group(1)) if traffic else None,
            raw=stdout,
        )


_TIME_US = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}
_BYTES = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4, "PB": 1024**5}
_TIME = r"([\d.]+)(us|ms|s|m|h)"
_SIZE = r"([\d.]+)([KMGTP]?B)"


class Wrk:
    """wrk: runs for a duration (``-d``); latency percentiles with ``--latency``."""

    name = "wrk"

    def command(self, load: Load, binary: str) -> list[str]:
        """A request count, if also given, is not used: wrk only stops after a duration."""
        _check_shape(load)
        if load.duration is None:
            raise BenchError("wrk runs for a duration, not a request count: give the load a duration (seconds), or use weighttp")
        argv = [binary, "-c", str(load.concurrency), "-t", str(load.threads),
                "-d", f"{_whole_seconds(load.duration)}s", "--timeout", f"{WRK_TIMEOUT_S}s", "--latency"]
        if not load.keepalive:
            argv += ["-H", "Connection: close"]
        return argv + [load.url]

    def parse(self, stdout: str, command: str) -> LoadResult:
        if "unable to connect to" in stdout:
            return LoadResult(tool=self.name, command=command, seconds=0.0, req_per_s=0.0, kbyte_per_s=0.0,
                              requests_done=0, errored=1, raw=stdout)
        done = re.search(rf"(\d+) requests in {_TIME}, {_SIZE} read", stdout)
        rate = re.search(r"Requests/sec:\s+([\d.]+)", stdout)
        transfer = re.search(rf"Transfer/sec:\s+{_SIZE}", stdout)
        if not (done and rate and transfer):
            raise _unparseable(self.name, stdout)
        requests = int(done.group(1))
        non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", stdout)
        rejected = int(non_2xx.group(1)) if non_2xx else 0
        sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", stdout)
        return LoadResult(
            tool=self.name,
            command=command,
            seconds=float(done.group(2)) * _TIME_US[done.group(3)] / 1e6,
            req_per_s=float(rate.group(1)),
            kbyte_per_s=float(transfer.group(1)) * _BYTES[transfer.group(2)] / 1024,
            requests_done=requests,
            succeeded=requests - rejected,
            failed=rejected,
            errored=sum(int(n) for n in sockets.groups()) if sockets else 0,
            status={"2xx": requests - rejected, "other": rejected},
            bytes_total=round(float(done.group(4)) * _BYTES[done.group(5)]),
            latency_us=_wrk_latency(stdout) if requests else {},
            raw=stdout,
        )


def _wrk_latency(text: str) -> dict[str, float]:
    latency = {f"p{pct}": float(value) * _TIME_US[unit]
               for pct, value, unit in re.findall(rf"^\s+(\d+)%\s+{_TIME}\s*$", text, re.MULTILINE)}
    stats = re.search(rf"^\s+Latency\s+{_TIME}\s+{_TIME}\s+{_TIME}", text, re.MULTILINE)
    if stats:
        latency["mean"] = float(stats.group(1)) * _TIME_US[stats.group(2)]
        latency["p100"] = float(stats.group(5)) * _TIME_US[stats.group(6)]
    return latency


GENERATORS = {tool.name: tool for tool in (Weighttp05(), Weighttp04(), Wrk())}


def parse_output(tool: str, stdout: str, command: str) -> LoadResult:
    """Parse a run's output by tool name ("weighttp-0.5", "weighttp-0.4" or "wrk")."""
    try:
        generator = GENERATORS[tool]
    except KeyError:
        raise BenchError(f"unknown load generator {tool!r}: one of {', '.join(GENERATORS)}") from None
    return generator.parse(stdout, command)


def version(host: Host, binary: str) -> str:
    """What the tool says it is, e.g. "weighttp 0.5" or "wrk debian/4.1.0-3+b2", for the report.

    Both ``-v`` and ``-V`` are asked: weighttp 0.5 answers -V, wrk and weighttp <= 0.4
    answer -v, and weighttp 0.4 prints its versioned banner whatever the option.
    """
    quoted = shlex.quote(binary)
    said = host.run(f"{quoted} -v 2>&1; {quoted} -V 2>&1", warn=True, timeout=30).stdout
    named = re.search(r"^(wrk|weighttp) (\S*\d\S*)", said, re.MULTILINE)
    if named:
        return f"{named.group(1)} {named.group(2)}"
    numbered = re.search(r"^version:\s+(\S+)", said, re.MULTILINE)  # weighttp <= 0.3
    if numbered:
        return f"weighttp {numbered.group(1)}"
    raise BenchError(f"cannot tell which load generator {binary} on {host} is: {_tail(said, 2)}; reinstall it with `inv setup`")


def _weighttp_flavour(host: Host, binary: str):
    said = version(host, binary)
    number = re.match(r"weighttp (\d+)\.(\d+)", said)
    if not number:
        raise BenchError(f"{binary} on {host} says {said!r}, not weighttp: point the search at a weighttp binary or pass --loadgen wrk")
    return GENERATORS["weighttp-0.5"] if (int(number.group(1)), int(number.group(2))) >= (0, 5) else GENERATORS["weighttp-0.4"]


def _find(host: Host, program: str, search_dirs: list[str]) -> str | None:
    candidates = " ".join(shlex.quote(f"{host.expand(d).rstrip('/')}/{program}") for d in search_dirs)
    look = f'for p in {candidates}; do if [ -x "$p" ]; then echo "$p"; exit 0; fi; done; ' if candidates else ""
    found = host.run(f"{look}command -v {program}", warn=True).stdout.strip()
    return found.splitlines()[0] if found else None


def detect(host: Host, prefer: str | None, search_dirs: list[str]) -> tuple[LoadGenerator, str]:
    """Find a load generator on ``host``: ``(generator, binary_path)``.

    weighttp is preferred when installed, then wrk; ``prefer`` ("weighttp" or "wrk")
    forces one. Each program is looked for in ``search_dirs`` (e.g. the tools prefix's
    bin), then on PATH. weighttp's version decides between the JSON (0.5) and the text
    (0.4) flavour.
    """
    if prefer not in (None, "weighttp", "wrk"):
        raise BenchError(f"unknown load generator {prefer!r}: choose weighttp or wrk")
    for program in [prefer] if prefer else ["weighttp", "wrk"]:
        binary = _find(host, program, search_dirs)
        if binary:
            return (GENERATORS["wrk"] if program == "wrk" else _weighttp_flavour(host, binary)), binary
    if prefer:
        where = ", ".join(search_dirs + ["PATH"])
        raise BenchError(f"{prefer} not found on {host} (looked in {where}): run `inv setup` (installs wrk and weighttp) or `apt-get install wrk`")
    raise BenchError("no load generator found: run `inv setup` (installs wrk and weighttp) or `apt-get install wrk`")
