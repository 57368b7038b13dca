"""The event lines server.py writes on stdout, and reading them back.

One JSON object per line, each with an ``event`` key: ``ready`` (a worker; its ``cpu`` under --cpus),
``listening`` (the master, once every worker serves), ``stats`` (a worker's request
count), ``worker-exit``, ``worker-died`` (the master, when a worker exits without
being asked) and ``stopped`` (the master, after all workers are gone).

Standard library only: it ships to the lab host beside server.py.
"""
from __future__ import annotations

import json
import os


def emit(event: str, **fields) -> None:
    """Write one event line to stdout in a single write, so processes never interleave."""
    fields = dict(event=event, **fields)
    os.write(1, (json.dumps(fields, separators=(",", ":")) + "\n").encode())


def read_events(text: str) -> list[dict]:
    """The JSON event objects in a server log; other lines (access log, errors) are skipped."""
    events = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and "event" in event:
            events.append(event)
    return events


def worker_counts(events: list[dict]) -> dict[int, int]:
    """Worker index -> the last request count it reported (``stats`` or ``worker-exit``)."""
    counts = {}
    for event in events:
        if event.get("event") in ("stats", "worker-exit"):
            counts[int(event["worker"])] = int(event["requests"])
    return counts
