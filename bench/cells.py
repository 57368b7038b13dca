"""A cell: one point of the matrix, a server kind's variant under one load, as ``results.jsonl`` holds it."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, fields

from bench.jsonfile import Keyed, Range, checked

NONE = type(None)
TEXT = (str,)
NUMBER = (Range((int, float), 0),)  # counts, rates, sizes and seconds: never below zero
POSITIVE = (Range((int,), 1),)


@dataclass(frozen=True)
class Load:
    """One load-generator run to make: where, how much, how hard."""

    url: str
    concurrency: int
    threads: int
    keepalive: bool
    requests: int | None = None  # a request count (weighttp's -n) ...
    duration: float | None = None  # ... or a time budget in seconds (wrk's -d, weighttp's cap)
    rate: float | None = None  # the req/s expected (the cell's warm-up's): sizes weighttp 0.5's -n for a timed load
    offered: float | None = None  # a constant rate to send at, answered or not (wrk2's -R): an open-loop load
    pipeline: int = 1  # requests sent on a connection before their answers are awaited (HTTP/1.1 pipelining)


class Variant(Mapping):
    """A server kind's variant of a cell (Twisted's interpreter, mode, resource, version): text by name,
    immutable and hashable, equal whatever the order it was given in."""

    def __init__(self, items=(), **named: str):
        self._items = dict(sorted({**dict(items), **named}.items()))

    def __getitem__(self, key: str) -> str:
        return self._items[key]

    def __iter__(self):
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(tuple(self._items.items()))

    def __repr__(self) -> str:
        return f"Variant({self._items!r})"


@dataclass(frozen=True)
class Cell:
    """One point of the matrix: a server kind's variant under one load."""

    server: str  # its kind: bench/measure/servers/<server>.py
    variant: Variant  # what the kind varies (none for Nginx: it serves its file)
    workers: int
    payload: int
    keepalive: bool
    loadgen: str
    concurrency: int
    threads: int
    requests: int | None = None
    duration: float | None = None
    pipeline: int = 1  # requests in flight per connection; 1 (no pipelining) is left out of the id and the record

    def __post_init__(self):
        if not isinstance(self.variant, Variant):
            object.__setattr__(self, "variant", Variant(self.variant))

    @property
    def id(self) -> str:
        """A stable id: the same settings give the same id in every run (resume, compare)."""
        canonical = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha1(canonical.encode()).hexdigest()[:12]

    @property
    def label(self) -> str:
        """Its kind, then its variant's values by name: 'nginx', 'twisted/pypy/shared/fixed/26.4.0'."""
        return "/".join([self.server, *self.variant.values()])

    @property
    def case(self) -> tuple[bool, int, int]:
        """What a server is compared within: keep-alive, payload and workers."""
        return (self.keepalive, self.payload, self.workers)

    def load(self, url: str) -> Load:
        return Load(url=url, concurrency=self.concurrency, threads=self.threads,
                    keepalive=self.keepalive, requests=self.requests, duration=self.duration, pipeline=self.pipeline)

    def to_dict(self) -> dict:
        data = {f.name: dict(self.variant) if f.name == "variant" else getattr(self, f.name) for f in fields(self)}
        if self.pipeline == 1:  # as cells were before pipelining: the same ids
            del data["pipeline"]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "Cell":
        if isinstance(data, dict) and "variant" not in data:
            checked(data, OLD_CELL_FIELDS, "cell")
            data = _variant_of_old(data)
        checked(data, CELL_FIELDS, "cell")
        return cls(**{k: v for k, v in data.items() if k in CELL_FIELDS})


def _variant_of_old(data: dict) -> dict:
    """A cell of formats 1 to 3 as a kind and its variant. Those formats knew two kinds: Twisted, whose cells
    named an interpreter, a mode and a resource, and Nginx, whose interpreter and mode were null (it served
    its file): no variant."""
    twisted = data["interpreter"] is not None
    variant = {key: data[key] for key in ("interpreter", "mode", "resource")} if twisted else {}
    return {**{k: v for k, v in data.items() if k not in ("interpreter", "mode", "resource")}, "variant": variant}


CELL_FIELDS = {
    "server": (TEXT, True), "variant": ((Keyed(TEXT, keys=r"[a-z][a-z0-9_]{0,31}"),), True),
    "workers": (POSITIVE, True), "payload": (POSITIVE, True), "keepalive": ((bool,), True),
    "loadgen": (TEXT, True), "concurrency": (POSITIVE, True), "threads": (POSITIVE, True),
    "requests": (POSITIVE + (NONE,), False), "duration": (NUMBER + (NONE,), False), "pipeline": (POSITIVE, False),
}
# A cell as formats 1 to 3 wrote it: Twisted's variant in fields of its own.
OLD_CELL_FIELDS = {**{k: v for k, v in CELL_FIELDS.items() if k != "variant"},
                   "interpreter": (TEXT + (NONE,), True), "mode": (TEXT + (NONE,), True), "resource": (TEXT, True)}
