"""What a run measured, as typed records that round-trip through ``results.jsonl`` and ``env.json``.

A :class:`Cell` is one point of the matrix; a :class:`LoadResult` one load-generator run;
a :class:`CellRecord` everything measured for one cell, with its :class:`Status`. The
runner makes records, the report and compare read them: nothing else travels between
them. Every line of ``results.jsonl`` and every ``env.json`` says which format it is in,
and a reader refuses a format it does not know.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from pathlib import Path

from bench.cells import NONE, NUMBER, POSITIVE, TEXT, Cell, Load, Variant  # noqa: F401 (read from here too)
from bench.errors import BenchError
from bench.jsonfile import Each, Keyed, Range, checked, loads, read_text

# The format of a results.jsonl line and of env.json. Files from before the version
# existed carry none and read as format 1. Format 2 adds rounds: runs numbered by round,
# and cells measured together in one group, so their rounds pair up. Format 3 adds load
# hosts: a run made by several carries each one's own run in ``parts``. Format 4 makes a cell a server kind
# and its variant (Twisted's interpreter, mode, resource and version were fields of every cell before), and
# env.json names the baseline and each host's server facts by kind.
FORMAT = 4
KNOWN_FORMATS = (1, 2, 3, 4)


# Why a case's rounds ended: every interval the stopping rule watches was within its target, or a cap came first.
TARGET, ROUND_CAP, TIME_CAP = "target", "round cap", "time cap"
ENDINGS = (TARGET, ROUND_CAP, TIME_CAP)


class Status(str, Enum):
    """How a cell ended: only ``OK`` is a clean number."""

    OK = "ok"  # measured, every request answered 2xx
    FLAGGED = "flagged"  # measured, but something went wrong: never shown as a clean number
    FAILED = "failed"  # could not be measured
    INTERRUPTED = "interrupted"  # stopped by Ctrl-C or a lost host: measured again on --resume

    def __str__(self) -> str:
        return self.value


@dataclass
class LoadResult:
    """What one load-generator run said, parsed; ``raw`` keeps its whole output."""

    tool: str  # the load generator's name: "weighttp-0.5", "weighttp-0.4", "wrk", "h2load"
    command: str
    seconds: float
    req_per_s: float
    kbyte_per_s: float | None  # None: the tool did not count the bytes (h2load with Connection: close)
    requests_started: int | None = None
    requests_done: int | None = None
    succeeded: int = 0
    failed: int = 0
    errored: int = 0
    status: dict[str, int] = field(default_factory=dict)  # "2xx".."5xx" -> count
    bytes_total: int | None = None
    latency_us: dict[str, float] = field(default_factory=dict)  # "p50", "p90", "p99", ... of response time
    raw: str = ""
    warmup: bool = False
    cpu_s: float | None = None  # CPU (user + system) the load generator used
    # A measured run's CPU and memory (bench.measure.sampling), each key optional (older runs lack the
    # later ones): wall_s; cores over the tool's seconds: server_cores, loadgen_cores, harness_cores; the
    # server's machine: host_cpus (in play), host_busy_cores, steal_cores, other_cores, busiest_process_cores (the
    # server process that used the most CPU itself) and, with a
    # partition, server_cpus_busy_cores / load_cpus_busy_cores; server_rss_mb, server_processes;
    # exhausted (weighttp used up its -n before its time). A load host's part: its share and saturated. A sweep
    # step: saturated (its load generator), server_busy, worker_saturated and machine_bound (bench.measure.verdicts).
    sample: dict | None = None
    round: int | None = None  # which round of its group a measured run belongs to
    host: str | None = None  # the load host that made it, when there were several
    parts: list[LoadResult] = field(default_factory=list)  # several load hosts: each one's run, this is their sum
    # An open-loop load (wrk2): the rate it offered; latency_us from each request's intended start (corrected
    # for coordinated omission), uncorrected_us from its actual send, as closed-loop tools measure it.
    offered_per_s: float | None = None
    # ... and the least its schedule sends over the whole run: wrk2 connects a thread's connections 5 ms apart, each
    # sending from its connect on, so this is below offered_per_s (200 connections, 13 s: 12/13 of it).
    scheduled_per_s: float | None = None
    uncorrected_us: dict[str, float] = field(default_factory=dict)
    socket_errors: dict[str, int] = field(default_factory=dict)  # connect, read, write, timeout (wrk2)

    @property
    def non_2xx(self) -> int:
        return sum(n for code, n in self.status.items() if code != "2xx")

    @property
    def clean(self) -> bool:
        """Every request answered 2xx, none failed or errored, at least one succeeded (on every load host)."""
        return (self.succeeded > 0 and self.failed == 0 and self.errored == 0 and self.non_2xx == 0
                and all(part.clean for part in self.parts))

    @property
    def server_cores(self) -> float | None:
        return (self.sample or {}).get("server_cores")

    def to_dict(self) -> dict:
        data = asdict(self)
        for optional in ("sample", "round", "host", "offered_per_s", "scheduled_per_s"):
            if data[optional] is None:
                del data[optional]
        for optional in ("parts", "uncorrected_us", "socket_errors"):
            if not data[optional]:
                del data[optional]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "LoadResult":
        checked(data, RUN_FIELDS, "run")
        for first, *others in TOGETHER:
            lacking = [key for key in others if first in (data.get("sample") or {}) and key not in data["sample"]]
            if lacking:
                raise ValueError(f"the run's 'sample' has {first!r} but no {lacking[0]!r}")
        values = {k: v for k, v in data.items() if k in RUN_FIELDS}
        values["parts"] = [cls.from_dict(part) for part in data.get("parts", [])]
        return cls(**values)



@dataclass
class CellRecord:
    """Everything measured for one cell: its runs, the server's side, and how it ended."""

    cell: Cell
    group: str | None = None  # the servers measured together, round by round; None: measured alone
    status: Status = Status.OK
    reasons: list[str] = field(default_factory=list)
    runs: list[LoadResult] = field(default_factory=list)  # warm-ups first, marked
    hosts: dict[str, str] = field(default_factory=dict)  # role -> host
    server_command: str | None = None
    server_config: str | None = None  # Nginx's rendered config, relative to the run folder
    server_log: str | None = None  # relative to the run folder
    verify: dict | None = None  # the checked answer: status, length, sha256
    workers: dict[str, int] = field(default_factory=dict)  # worker index -> requests served
    spread: dict | None = None  # how evenly the workers shared the requests
    verdicts: list[str] = field(default_factory=list)  # noisy, client-bound, ...
    warmup_rounds: int = 0
    # seconds: start_verify, load, stop, total, overhead (beyond the tools' own seconds), all of its
    # case's, and the case's number of cells
    timing: dict[str, float] = field(default_factory=dict)
    # How its case's rounds ended: rounds, ended (one of ENDINGS), seconds (of the rounds), target, and
    # confidence (of the interval the stopping rule checked). None in runs from before it was recorded.
    stopping: dict | None = None
    # inv bench --latency: a run at each offered rate of the case's sweep (offered_per_s), its round the rate's place
    # in the sweep; its sample says whether the load generator saturated (then the step is not used)
    sweep: list[LoadResult] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.cell.id

    @property
    def label(self) -> str:
        return self.cell.label

    @property
    def measured(self) -> list[LoadResult]:
        """The measured runs, clean or not: warm-ups excluded."""
        return [run for run in self.runs if not run.warmup]

    @property
    def numbers(self) -> list[LoadResult]:
        """The runs whose req/s counts: measured and clean. A run with failures is never a number."""
        return [run for run in self.measured if run.clean]

    @property
    def clean(self) -> bool:
        return self.status is Status.OK

    def flag(self, reason: str) -> None:
        """Something went wrong, but what was measured stands; a worse status is kept."""
        if self.status is Status.OK:
            self.status = Status.FLAGGED
        self.reasons.append(reason)

    def fail(self, reason: str) -> None:
        self.status = Status.FAILED
        self.reasons.append(reason)

    def interrupt(self, reason: str) -> None:
        self.status = Status.INTERRUPTED
        self.reasons.append(reason)

    def to_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data.update(format=FORMAT, id=self.id, label=self.label, cell=self.cell.to_dict(),
                    status=self.status.value, runs=[run.to_dict() for run in self.runs],
                    sweep=[step.to_dict() for step in self.sweep])
        if not self.sweep:  # a run without --latency writes its records as before
            del data["sweep"]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "CellRecord":
        checked(data, RECORD_FIELDS, "record")
        if data["status"] not in {status.value for status in Status}:
            raise ValueError(f"status {data['status']!r} is none of {', '.join(s.value for s in Status)}")
        known = set(RECORD_FIELDS) - {"cell", "status", "runs", "sweep"}
        return cls(cell=Cell.from_dict(data["cell"]), status=Status(data["status"]),
                   runs=[LoadResult.from_dict(run) for run in data.get("runs", [])],
                   sweep=[LoadResult.from_dict(step) for step in data.get("sweep", [])],
                   **{k: v for k, v in data.items() if k in known and v is not None})


# -- what a stored record may hold: field -> (shape, required), as jsonfile.conforms reads it ----

TEXTS = (Each((str,)),)
COUNT = (Range((int,), 0),)
SAMPLE = {name: (NUMBER, False) for name in (
    "wall_s", "server_cores", "server_rss_mb", "loadgen_cores", "harness_cores", "host_busy_cores", "steal_cores",
    "other_cores", "server_cpus_busy_cores", "load_cpus_busy_cores", "busiest_process_cores")}
SAMPLE.update({name: (COUNT, False) for name in ("server_processes", "host_cpus", "concurrency", "threads")})
SAMPLE.update({name: ((bool,), False) for name in ("saturated", "exhausted", "server_busy", "machine_bound",
                                                   "worker_saturated")})
# Keys a sample holds together: a reader that finds the first reads the others.
TOGETHER = (("server_cores", "server_rss_mb"), ("host_cpus", "host_busy_cores", "steal_cores"))
RUN_FIELDS = {
    "tool": (TEXT, True), "command": (TEXT, True), "seconds": (NUMBER, True), "req_per_s": (NUMBER, True),
    "kbyte_per_s": (NUMBER + (NONE,), True), "requests_started": (COUNT + (NONE,), False),
    "requests_done": (COUNT + (NONE,), False), "succeeded": (COUNT, False), "failed": (COUNT, False),
    "errored": (COUNT, False), "status": ((Keyed(COUNT),), False), "bytes_total": (COUNT + (NONE,), False),
    "latency_us": ((Keyed(NUMBER),), False), "raw": (TEXT, False), "warmup": ((bool,), False),
    "cpu_s": (NUMBER + (NONE,), False), "sample": ((SAMPLE, NONE), False), "round": ((int, NONE), False),
    "host": (TEXT + (NONE,), False), "parts": ((Each((dict,)),), False), "offered_per_s": (NUMBER + (NONE,), False),
    "scheduled_per_s": (NUMBER + (NONE,), False),
    "uncorrected_us": ((Keyed(NUMBER),), False), "socket_errors": ((Keyed(COUNT),), False),
}
SPREAD = {name: (NUMBER, True) for name in ("min_share", "max_share", "imbalance")}
STOPPING = {"rounds": (POSITIVE, True), "ended": (TEXT, True), "seconds": (NUMBER, False), "target": (NUMBER, False),
            "confidence": ((Range((int, float), 0, 1),), False)}
RECORD_FIELDS = {
    "cell": ((dict,), True), "status": (TEXT, True), "group": (TEXT + (NONE,), False),
    "reasons": (TEXTS, False), "runs": ((Each((dict,)),), False), "hosts": ((Keyed(TEXT),), False),
    "server_command": (TEXT + (NONE,), False), "server_config": (TEXT + (NONE,), False),
    "server_log": (TEXT + (NONE,), False), "verify": ((dict, NONE), False),
    "workers": ((Keyed(NUMBER, keys=r"[0-9]{1,6}"),), False), "spread": ((SPREAD, NONE), False),
    "verdicts": (TEXTS, False), "warmup_rounds": (COUNT, False), "timing": ((Keyed(NUMBER),), False),
    "stopping": ((STOPPING, NONE), False), "sweep": ((Each((dict,)),), False),
}


# -- files -------------------------------------------------------------------------

def check_format(data: dict, where: str) -> None:
    """Refuse a record or env.json written in a format this harness does not read."""
    found = data.get("format", 1)
    if found not in KNOWN_FORMATS:
        raise BenchError(f"{where} is in format {found!r}, this harness reads format "
                         f"{', '.join(map(str, KNOWN_FORMATS))}: render it with the harness version that wrote it")


def append_record(path: str | Path, record: CellRecord) -> None:
    """Append one record and make it durable before the next cell starts (after mending a torn tail)."""
    mend_torn_tail(path)
    with open(path, "a") as out:
        out.write(json.dumps(record.to_dict(), sort_keys=True) + "\n")
        out.flush()
        os.fsync(out.fileno())


def mend_torn_tail(path: str | Path) -> str | None:
    """Cut a last line left without its newline (a crash mid-write), so the next record starts on a line
    of its own; the fragment is kept in ``<path>.torn``. Returns the fragment, if there was one.

    A last line that is a whole record, short of its newline only, gets its newline instead: the
    reader (and so ``--resume``) counts it as measured."""
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return None
    data = path.read_bytes()
    if data.endswith(b"\n"):
        return None
    keep = data.rfind(b"\n") + 1
    if _is_record(data[keep:]):
        with open(path, "ab") as out:
            out.write(b"\n")
            out.flush()
            os.fsync(out.fileno())
        return None
    with open(path.with_name(path.name + ".torn"), "ab") as torn:
        torn.write(data[keep:] + b"\n")
    with open(path, "r+b") as out:
        out.truncate(keep)
        out.flush()
        os.fsync(out.fileno())
    return data[keep:].decode("utf-8", "replace")


def _is_record(line: bytes) -> bool:
    try:
        CellRecord.from_dict(loads(line.decode()))
    except (ValueError, TypeError):  # not UTF-8, not JSON, not a record
        return False
    return True


def read_records(path: str | Path) -> list[CellRecord]:
    """Every record; a torn last line (a crash mid-write) is skipped, any other bad line is an error."""
    path = Path(path)
    if not path.exists():
        return []
    text = read_text(path, "the run's results.jsonl")
    lines = text.splitlines()
    records = []
    for number, line in enumerate(lines, 1):
        torn = number == len(lines) and not text.endswith("\n")
        try:
            data = loads(line)
        except ValueError as exc:
            if torn:
                continue
            raise BenchError(f"{path} line {number} {exc}: fix or delete that line") from None
        if isinstance(data, dict):
            check_format(data, f"{path} line {number}")
        try:
            records.append(CellRecord.from_dict(data))
        except (ValueError, TypeError) as exc:
            raise BenchError(f"{path} line {number} is not a cell record: {exc}; fix or delete that line") from None
    return records


def latest(records: list[CellRecord]) -> list[CellRecord]:
    """One record per cell: the last one written wins (a resumed or re-measured cell)."""
    return list({record.id: record for record in records}.values())


def write_env(path: str | Path, env: dict) -> None:
    Path(path).write_text(json.dumps({**env, "format": FORMAT}, indent=2, sort_keys=True) + "\n")

