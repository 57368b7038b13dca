"""What a run measured, as plain data that round-trips through JSON lines."""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path


@dataclass(frozen=True)
class Load:
    """One load-generator run to make: where, how much, how hard."""

    url: str
    concurrency: int
    threads: int
    keepalive: bool
    requests: int | None = None  # a request count (weighttp's -n) ...
    duration: float | None = None  # ... or a time budget in seconds (wrk's -d, weighttp's cap)


@dataclass
class LoadResult:
    """What one load-generator run said, parsed; ``raw`` keeps its whole output."""

    tool: str  # "weighttp-0.5", "weighttp-0.4" or "wrk"
    command: str
    seconds: float
    req_per_s: float
    kbyte_per_s: float
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

    @property
    def non_2xx(self) -> int:
        return sum(n for code, n in self.status.items() if code != "2xx")

    @property
    def clean(self) -> bool:
        """Every request answered 2xx, none failed or errored, at least one succeeded."""
        return self.succeeded > 0 and self.failed == 0 and self.errored == 0 and self.non_2xx == 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "LoadResult":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def append_jsonl(path: str | Path, record: dict) -> None:
    """Append one record and make it durable before the next cell starts."""
    with open(path, "a") as out:
        out.write(json.dumps(record, sort_keys=True) + "\n")
        out.flush()
        os.fsync(out.fileno())


def read_jsonl(path: str | Path) -> list[dict]:
    """Read every complete record; a torn last line (a crash mid-write) is skipped."""
    records = []
    if not Path(path).exists():
        return records
    for line in Path(path).read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records
