"""The report's load hosts: with several, how the load was split and what each one did (pure).

A run made by several load hosts is their sum (``loading.combined``); each host's own
run is one of its ``parts``, with that host's latency: percentiles of different hosts are
never averaged, so the combined run has none and each host's are shown apart.
"""
from __future__ import annotations

from tabulate import tabulate

from bench.records import CellRecord, LoadResult, Status
from bench.stats import summarize

from .summary import MARK
from .summary import numbers as figures

PER_HOST = "per load host ↓"  # the results table's latency where a cell's runs are combined


def several(record: CellRecord) -> bool:
    """Several load hosts made this cell's runs."""
    return any(run.parts for run in record.measured)


def hosts(record: CellRecord) -> list[str]:
    """The cell's load hosts, in the order its runs list them."""
    return list(dict.fromkeys(part.host or "?" for run in record.measured for part in run.parts))


def _parts(runs: list[LoadResult], host: str) -> list[LoadResult]:
    return [part for run in runs for part in run.parts if (part.host or "?") == host]


def _done(part: LoadResult) -> int:
    return part.requests_done if part.requests_done is not None else part.succeeded


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _facts(parts: list[LoadResult], key: str) -> str:
    """A sample fact of a host's parts (its connections, its threads): one value, or each one seen."""
    values = list(dict.fromkeys((part.sample or {}).get(key) for part in parts))
    return " / ".join("—" if value is None else str(value) for value in values) or "—"


def saturation(record: CellRecord, host: str) -> tuple[int, int] | None:
    """(rounds the host was saturated, rounds it said) over the cell's runs that are numbers."""
    said = [part.sample["saturated"] for part in _parts(record.numbers, host)
            if (part.sample or {}).get("saturated") is not None]
    return (sum(bool(flag) for flag in said), len(said)) if said else None


def saturated_words(record: CellRecord) -> str:
    """The load hosts saturated in some round, e.g. "root@10.0.0.3:2222 saturated in 2/3 rounds"."""
    words = []
    for host in hosts(record):
        counted = saturation(record, host)
        if counted and counted[0]:
            words.append(f"{host} saturated in {counted[0]}/{counted[1]} rounds")
    return ", ".join(words)


def threads_words(record: CellRecord, fallback: int) -> str:
    """The load generator's threads: per host ("1 + 1") with several load hosts, else the cell's."""
    runs = [run for run in record.numbers if run.parts] or [run for run in record.measured if run.parts]
    if not runs:
        return str(fallback)
    return " + ".join(str((part.sample or {}).get("threads", "?")) for part in runs[0].parts)


def split_words(record: CellRecord) -> str | None:
    """How the cell's load was split between its load hosts, from their parts' samples."""
    runs = [run for run in record.numbers if run.parts] or [run for run in record.measured if run.parts]
    if not runs:
        return None
    samples = [(part.host or "?", part.sample or {}) for part in runs[0].parts]
    connections = [sample.get("concurrency") for _, sample in samples]
    threads = [sample.get("threads") for _, sample in samples]
    if None in connections:
        return None
    total = sum(connections)
    if len(set(connections)) == 1:
        words = (f"The total concurrency ({_plural(total, 'connection')}) was split evenly: "
                 f"{connections[0]} per load host")
    else:
        words = (f"The total concurrency ({_plural(total, 'connection')}) was split unevenly: "
                 + ", ".join(f"{count} on {host}" for (host, _), count in zip(samples, connections)))
    if total != record.cell.concurrency:
        words += f" (the profile asks for {record.cell.concurrency})"
    if None in threads:
        return words + "."
    profile = record.cell.threads
    if len(set(threads)) == 1 and threads[0] == profile:
        return words + f"; each ran the profile's {_plural(profile, 'thread')}."
    if len(set(threads)) == 1:
        of = f" (the profile's {profile} split between them)" if sum(threads) == profile else ""
        return words + f"; each ran {_plural(threads[0], 'thread')}{of}."
    return words + "; threads: " + ", ".join(f"{count} on {host}" for (host, _), count in zip(samples, threads)) + "."


def _median(values) -> str:
    summary = summarize(value for value in values if value is not None)
    return f"{summary.median:,.0f}" if summary else "—"


def _latency(parts: list[LoadResult], key: str) -> str:
    summary = summarize(part.latency_us[key] for part in parts if part.latency_us.get(key) is not None)
    return f"{summary.median / 1000:.2f}" if summary else "—"


def _cores(part: LoadResult) -> float | None:
    cores = (part.sample or {}).get("loadgen_cores")
    if cores is None and part.cpu_s is not None and part.seconds:
        cores = part.cpu_s / part.seconds
    return cores


def host_rows(record: CellRecord) -> list[list]:
    """One row per load host: its load, its share of the requests, its req/s, latency, CPU and saturation
    (a cell that is not clean: only its load, its figures as "—")."""
    cell = record.cell
    numbers = figures(record)
    total = sum(_done(part) for run in numbers for part in run.parts)
    name = f"`{record.label}`" + ("" if record.status is Status.OK else f" {MARK} {record.status}")
    rows = []
    for host in hosts(record):
        mine = _parts(numbers, host)
        seen = mine or _parts(record.measured, host)
        share = f"{sum(_done(part) for part in mine) / total:.0%}" if mine and total else "—"
        cores = [value for value in map(_cores, mine) if value is not None]
        counted = saturation(record, host) if mine else None
        rows.append([name, cell.payload, "yes" if cell.keepalive else "no", cell.workers, host,
                     _facts(seen, "concurrency"), _facts(seen, "threads"), share,
                     _median(part.req_per_s for part in mine), _latency(mine, "p50"), _latency(mine, "p99"),
                     f"{sum(cores) / len(cores):.2f}" if cores else "—",
                     f"{counted[0]}/{counted[1]}" if counted else "—"])
    return rows


def _case_words(record: CellRecord) -> str:
    cell = record.cell
    return f"`{record.label}`, {cell.payload} bytes, {'keep-alive' if cell.keepalive else 'no keep-alive'}"


def load_hosts_section(records: list[CellRecord]) -> list[str]:
    """Each load host's part of each cell measured by several; nothing when one load host made every run."""
    split = [record for record in records if several(record)]
    if not split:
        return []
    sentences: dict[str, list[CellRecord]] = {}
    for record in split:
        words = split_words(record)
        if words:
            sentences.setdefault(words, []).append(record)
    if len(sentences) == 1:
        how = [next(iter(sentences)), ""]
    else:
        how = [f"- {'; '.join(_case_words(r) for r in cells)}: {words}" for words, cells in sentences.items()] + [""]
    rows = [row for record in split for row in host_rows(record)]
    return ["## Load hosts", "",
            "Several load hosts made the load together: each round, every host's load generator started at the "
            "same moment, and the round's req/s is their sum. *Share* is each host's part of the requests of the "
            "measured runs that are clean numbers (a cell that is not clean shows only its load); req/s and latency "
            "are each host's own, the median over those "
            "rounds (percentiles of different hosts are never averaged); *saturated* counts the rounds in which "
            "the host used up its threads' cores.", "", *how,
            tabulate(rows, ["cell", "payload", "keep-alive", "workers", "load host", "connections", "threads",
                            "share of requests", "req/s (median)", "p50 (ms)", "p99 (ms)", "cores (mean)",
                            "saturated"], tablefmt="github", disable_numparse=True), ""]
