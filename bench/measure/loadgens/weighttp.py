"""weighttp, the seed's load generator: 0.5 (JSON report, ``-a`` caps a run's time) and 0.4 (text, no cap).

Built by `inv setup` from its pinned release (setup.weighttp). The parsers never turn a failed
run into a good-looking number: weighttp 0.5 exits 0 and prints a large ``reqs_per_sec`` even
when every answer was a 404 or no request succeeded, so ``succeeded``, ``failed``, ``errored``
and ``status`` are always filled from the tool's own counters.

- 0.5 (JSON): ``response_counts`` pass/fail/errs -> succeeded/failed/errored,
  ``status_codes`` -> status, ``response_times`` percentiles (us) -> latency_us, except when pipelining
  (``-K`` above 1): weighttp times a pipelined request from the previous answer on its connection, not from
  when the request was sent, so its "response times" are the gaps between answers (p50 0 us), no latency.
- 0.4 (text): its ``requests:``/``status codes:``/``traffic:`` lines; no latency.
"""
from __future__ import annotations

import json
import re

from bench.errors import BenchError
from bench.hosts import Host
from bench.records import Load, LoadResult

from .generator import Capabilities, LoadGenerator, flag_value, sized_requests, tail, unparseable, whole_seconds

# weighttp 0.5 needs -n even when -a caps the time, and keeps a time per planned request:
# its req/s falls as -n grows (-n 50000000 gave 26-72k req/s where -n 2000000 gave 85-89k
# against one Nginx; -n 10000000 cost 2 %). So a timed load's -n is twice what the cell's
# warm-up rate makes in its seconds, within these bounds; without a rate, the default.
WEIGHTTP_REQUESTS = 2_000_000
WEIGHTTP_MIN_REQUESTS = 100_000
WEIGHTTP_MAX_REQUESTS = 10_000_000


class Weighttp(LoadGenerator):
    """weighttp, whichever release: what `inv setup` and the version probe know of it."""

    program = "weighttp"
    setup = "build"
    # weighttp 0.5 answers -V, weighttp <= 0.4 -v (0.4 prints its versioned banner whatever the option)
    version_args = ("-v", "-V")
    said = r"^(weighttp) (\S*\d\S*)"

    @classmethod
    def formats(cls) -> tuple[LoadGenerator, ...]:
        return (Weighttp05(), Weighttp04())

    @classmethod
    def read_version(cls, said: str) -> str | None:
        numbered = re.search(r"^version:\s+(\S+)", said, re.MULTILINE)  # weighttp <= 0.3
        return super().read_version(said) or (f"weighttp {numbered.group(1)}" if numbered else None)

    @classmethod
    def installed(cls, host: Host, binary: str) -> LoadGenerator:
        said = cls.version(host, binary)
        number = re.match(r"weighttp (\d+)\.(\d+)", said)
        if not number:
            raise BenchError(f"{binary} on {host} says {said!r}, not weighttp: point the search at a weighttp binary "
                             f"or pass another --loadgen")
        return Weighttp05() if (int(number.group(1)), int(number.group(2))) >= (0, 5) else Weighttp04()


class Weighttp05(Weighttp):
    """weighttp 0.5 and later: JSON report, ``-a SECS`` caps a run's duration."""

    name = "weighttp-0.5"
    title = "weighttp 0.5"
    capabilities = Capabilities(requests=True, duration=True, latency=True, pipelining=True)

    def argv(self, load: Load, binary: str) -> list[str]:
        """``-n`` is mandatory: for a duration-only load, -n is sized from the duration and -a ends the run."""
        argv = [binary, "-n", str(load.requests if load.requests is not None else timed_requests(load))]
        if load.duration is not None:
            argv += ["-a", str(whole_seconds(load.duration))]
        argv += ["-c", str(load.concurrency), "-t", str(load.threads)]
        if load.keepalive:
            argv.append("-k")
        if load.pipeline > 1:
            argv += ["-K", str(load.pipeline)]
        return argv + [load.url]

    def parse(self, stdout: str, command: str) -> LoadResult:
        """Read the JSON object printed after the banner and progress lines."""
        report = _json_report(stdout)
        if report is None:
            # weighttp 0.5 prints no JSON, only "error: request_count 0", when nothing finished.
            if "request_count 0" in stdout:
                return LoadResult(tool=self.name, command=command, seconds=0.0, req_per_s=0.0,
                                  kbyte_per_s=0.0, requests_done=0, raw=stdout)
            raise unparseable(self.name, stdout)
        try:
            counts = report["request_counts"]
            responses = report["response_counts"]
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
                latency_us={} if _pipelined(command) else _latency(report.get("response_times", {})),
                raw=stdout,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BenchError(f"{self.name} printed a report without {exc}; is it really weighttp 0.5? {tail(stdout)}") from None

    def ran_out(self, load: Load, result: LoadResult) -> bool:
        """A timed run that started every request of the -n sized for it before its -a seconds were up:
        -n, not the time, ended it (the run was shorter than asked)."""
        return (result.tool == self.name and load.duration is not None and load.requests is None
                and (result.requests_started or 0) >= timed_requests(load))


def timed_requests(load: Load) -> int:
    """weighttp 0.5's -n for a load timed by -a: twice the expected rate × seconds (at least the
    connections), or the default when no rate is known."""
    return sized_requests(load, whole_seconds(load.duration), per_second=2, floor=WEIGHTTP_MIN_REQUESTS,
                          ceiling=WEIGHTTP_MAX_REQUESTS, unsized=WEIGHTTP_REQUESTS)


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


def _pipelined(command: str) -> bool:
    depth = flag_value(command, "-K")
    return depth is not None and depth.isdigit() and int(depth) > 1


def _latency(times: dict) -> dict[str, float]:
    latency = {f"p{key[:-1]}": float(value) for key, value in times.items() if key.endswith("%")}
    if "avg" in times:
        latency["mean"] = float(times["avg"])
    return latency


class Weighttp04(Weighttp):
    """weighttp 0.4 (the seed's): a text summary, no duration cap, no latency figures."""

    name = "weighttp-0.4"
    title = "weighttp 0.4"
    capabilities = Capabilities(requests=True)

    def argv(self, load: Load, binary: str) -> list[str]:
        """Only a request count ends a weighttp 0.4 run; a duration, if also given, is not used."""
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
            raise unparseable(self.name, stdout)
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


GENERATOR = Weighttp
