"""wrk: runs for a duration (``-d``), latency percentiles with ``--latency``; the distribution's package.

wrk counts answers with status >= 400 and nothing finer ("Non-2xx or 3xx responses: N"), so
status is ``{"2xx": done - N, "other": N}`` -- "2xx" there means "below 400", as wrk cannot
tell 3xx apart -- and N is also ``failed``. Socket errors (connect + read + write + timeout)
are ``errored``. When wrk cannot connect at all it prints only "unable to connect to
HOST:PORT ..." and exits 1: that is one errored connection and nothing done, never an
unparseable run.
"""
from __future__ import annotations

import re

from bench.records import Load, LoadResult

from .generator import Capabilities, LoadGenerator, unparseable, whole_seconds

# wrk counts a request slower than this as a timeout error (its default is 2 s).
WRK_TIMEOUT_S = 10
TIME_US = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}
BYTES = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4, "PB": 1024**5}
TIME = r"([\d.]+)(us|ms|s|m|h)"
SIZE = r"([\d.]+)([KMGTP]?B)"


class Wrk(LoadGenerator):
    """wrk: only a duration ends its runs."""

    name = program = title = "wrk"
    capabilities = Capabilities(duration=True, latency=True)
    setup = "package"
    version_args = ("-v",)
    said = r"^(wrk) (\S*\d\S*)"

    def argv(self, load: Load, binary: str) -> list[str]:
        """A request count, if also given, is not used: wrk only stops after a duration."""
        argv = [binary, "-c", str(load.concurrency), "-t", str(load.threads),
                "-d", f"{whole_seconds(load.duration)}s", "--timeout", f"{WRK_TIMEOUT_S}s", "--latency"]
        if not load.keepalive:
            argv += ["-H", "Connection: close"]
        return argv + [load.url]

    def parse(self, stdout: str, command: str) -> LoadResult:
        if "unable to connect to" in stdout:
            return LoadResult(tool=self.name, command=command, seconds=0.0, req_per_s=0.0, kbyte_per_s=0.0,
                              requests_done=0, errored=1, raw=stdout)
        done = re.search(rf"(\d+) requests in {TIME}, {SIZE} read", stdout)
        rate = re.search(r"Requests/sec:\s+([\d.]+)", stdout)
        transfer = re.search(rf"Transfer/sec:\s+{SIZE}", stdout)
        if not (done and rate and transfer):
            raise unparseable(self.name, stdout)
        requests = int(done.group(1))
        non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", stdout)
        rejected = int(non_2xx.group(1)) if non_2xx else 0
        sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", stdout)
        return LoadResult(
            tool=self.name,
            command=command,
            seconds=float(done.group(2)) * TIME_US[done.group(3)] / 1e6,
            req_per_s=float(rate.group(1)),
            kbyte_per_s=float(transfer.group(1)) * BYTES[transfer.group(2)] / 1024,
            requests_done=requests,
            succeeded=requests - rejected,
            failed=rejected,
            errored=sum(int(n) for n in sockets.groups()) if sockets else 0,
            status={"2xx": requests - rejected, "other": rejected},
            bytes_total=round(float(done.group(4)) * BYTES[done.group(5)]),
            latency_us=_latency(stdout) if requests else {},
            raw=stdout,
        )


def _latency(text: str) -> dict[str, float]:
    latency = {f"p{pct}": float(value) * TIME_US[unit]
               for pct, value, unit in re.findall(rf"^\s+(\d+)%\s+{TIME}\s*$", text, re.MULTILINE)}
    stats = re.search(rf"^\s+Latency\s+{TIME}\s+{TIME}\s+{TIME}", text, re.MULTILINE)
    if stats:
        latency["mean"] = float(stats.group(1)) * TIME_US[stats.group(2)]
        latency["p100"] = float(stats.group(5)) * TIME_US[stats.group(6)]
    return latency


GENERATOR = Wrk
