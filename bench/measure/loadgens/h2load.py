"""h2load (nghttp2's load generator) over HTTP/1.1 (``--h1``); the distribution's package (nghttp2-client).

A timed load runs a request count (``-n``) sized, as weighttp's, from the rate the cell's
warm-up made: its seconds times that rate. Not ``-D``: h2load 1.52's timed mode reconnects
in silence when a connection fails (a server killed mid-run reads as a clean run at a lower
rate; checked here), and never ends against a server that closes each connection; a request
count is what h2load checks, every request it could not make counted as errored. A load
without keep-alive sends ``Connection: close`` on every request, so h2load opens a connection
per request. A connection that sees no byte for ``H2LOAD_TIMEOUT_S`` is given up (``-N``),
its requests counted as errored.

h2load prints only the min, max, mean and deviation of its request times, so each run also
writes h2load's per-request log (start, status, microseconds) to a temporary file on the
load host; once h2load has ended, the same command line reduces it with awk to one line of
percentiles (nearest rank over every answered request) and removes it. No extra round trip,
and nothing but POSIX sh and awk on the load host. The CPU the run is charged with is
h2load's own (the shell's ``times`` right after it), not the summary's.

Counts: h2load's "succeeded" are answers of 2xx or 3xx, its "failed" every other request,
and its "errored" the failed requests that got no answer at all (refused, reset, timed out).
So ``failed`` here is h2load's failed less its errored (answered, but not 2xx or 3xx), and
``status`` its status classes: a 404 is failed and 4xx, a 3xx is non-2xx, never clean.
With ``Connection: close`` h2load counts no byte of traffic (it stops reading at the close),
so such a run's bytes and kbyte/s are unknown (None), never 0.
"""
from __future__ import annotations

import re

from bench.records import Load, LoadResult

from ..together import split_times
from .generator import Capabilities, LoadGenerator, sized_requests, unparseable

H2LOAD_TIMEOUT_S = 10
# A timed load's request count: its seconds times the rate its warm-up made; before any warm-up,
# this rate is assumed (a short first warm-up run against a fast server, a few seconds against a slow one).
H2LOAD_ASSUMED_RATE = 5_000
H2LOAD_MAX_REQUESTS = 10_000_000
PERCENTILES = ("50", "75", "90", "99", "99.9", "100")
LOG_MARK = "@@h2load-log"
# Each answered request's microseconds counted per value (h2load's log: start, status, microseconds) ...
COUNT = '$2 != -1 {h[$3]++} END {for (v in h) print v, h[v]}'
# ... then, sorted, walked in order for the mean and each percentile (the first value at or past its rank).
RANK = ('{v[NR] = $1; c[NR] = $2; n += $2; s += $1 * $2} END {if (!n) exit; '
        'printf "latency_us responses=%d mean=%.1f", n, s / n; '
        f'k = split("{" ".join(PERCENTILES)}", p, " "); j = 1; '
        'for (i = 1; i <= NR; i++) {t += c[i]; '
        # in whole per-mille, so a rank is exact: t / n >= p / 100
        'while (j <= k && t * 1000 >= int(p[j] * 10 + 0.5) * n) {printf " p%s=%d", p[j], v[i]; j++}} '
        'print ""}')
# $1 and $2 are the two awk programs, $3 h2load and the rest its arguments. A TERM (the harness
# stopping the load) stops h2load too. `times` right after h2load: its own CPU, not the summary's.
WRAPPER = "; ".join([
    "f=$(mktemp) || exit 1", "p=", 'stop() { [ -z "$p" ] || kill "$p" 2>/dev/null; rm -f "$f"; exit 143; }',
    "trap stop TERM INT HUP", "count=$1", "rank=$2", "b=$3", "shift 3", '"$b" --log-file="$f" "$@" & p=$!',
    'wait "$p"', "s=$?", "p=", "times", f"echo {LOG_MARK}",
    'awk "$count" "$f" | sort -n | awk "$rank"', 'rm -f "$f"', "exit $s"])
TIME_S = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
KBYTES = {"B": 1 / 1024, "KB": 1, "MB": 1024, "GB": 1024**2}


class H2load(LoadGenerator):
    """h2load --h1: a request count, given or sized to last the load's duration."""

    name = program = title = "h2load"
    capabilities = Capabilities(requests=True, duration=True, latency=True, pipelining=True, fixed_rate=True)
    setup = "package"

    def argv(self, load: Load, binary: str) -> list[str]:
        argv = ["sh", "-c", WRAPPER, "h2load", COUNT, RANK, binary, "--h1", "-c", str(load.concurrency), "-t", str(load.threads),
                "-N", f"{H2LOAD_TIMEOUT_S}s"]
        argv += ["-n", str(load.requests if load.requests is not None else timed_requests(load))]
        if load.pipeline > 1:  # over HTTP/1.1, -m is the requests pipelined on each connection
            argv += ["-m", str(load.pipeline)]
        if not load.keepalive:
            argv += ["-H", "Connection: close"]
        return argv + [load.url]

    def parse(self, stdout: str, command: str) -> LoadResult:
        finished = re.search(r"^finished in ([\d.]+)(us|ms|s|m|h), ([\d.]+) req/s, ([\d.]+)(B|KB|MB|GB)/s", stdout,
                             re.MULTILINE)
        requests = re.search(r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                             r"(\d+) errored, (\d+) timeout", stdout, re.MULTILINE)
        codes = re.search(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", stdout, re.MULTILINE)
        traffic = re.search(r"^traffic: \S+ \((\d+)\) total, \S+ \((\d+)\) headers .*, \S+ \((\d+)\) data", stdout,
                            re.MULTILINE)
        if not (finished and requests and codes and traffic):
            raise unparseable(self.name, stdout)
        _, started, done, succeeded, failed, errored, _ = (int(n) for n in requests.groups())
        total, headers, body = (int(n) for n in traffic.groups())
        counted = total >= headers + body  # with Connection: close, h2load counts no byte (see above)
        return LoadResult(
            tool=self.name,
            command=command,
            seconds=float(finished.group(1)) * TIME_S[finished.group(2)],
            req_per_s=float(finished.group(3)),
            kbyte_per_s=float(finished.group(4)) * KBYTES[finished.group(5)] if counted else None,
            requests_started=started,
            requests_done=done,
            succeeded=succeeded,
            failed=failed - errored,
            errored=errored,
            status=dict(zip(("2xx", "3xx", "4xx", "5xx"), (int(n) for n in codes.groups()))),
            bytes_total=total if counted else None,
            latency_us=latency(stdout),
            raw=stdout,
            cpu_s=own_cpu(stdout),
        )


def timed_requests(load: Load) -> int:
    """A timed load's -n: its seconds times the rate its warm-up made (the assumed rate before one)."""
    return sized_requests(load, load.duration, per_second=1, floor=load.concurrency, ceiling=H2LOAD_MAX_REQUESTS,
                          unsized=round(H2LOAD_ASSUMED_RATE * load.duration))


def latency(stdout: str) -> dict[str, float]:
    """The percentiles the command line's summary of h2load's per-request log printed (microseconds)."""
    line = re.search(r"^latency_us responses=\d+ (.*)$", stdout, re.MULTILINE)
    return {key: float(value) for key, value in re.findall(r"(\w[\w.]*)=([\d.]+)", line.group(1))} if line else {}


def own_cpu(stdout: str) -> float | None:
    """h2load's CPU seconds (user + system), from the wrapper's ``times`` right after it ended."""
    before, mark, _ = stdout.rpartition(f"\n{LOG_MARK}\n")
    return split_times(before + "\n")[1] if mark else None


GENERATOR = H2load
