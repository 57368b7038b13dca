"""The run's report: markdown rendered only from ``results.jsonl`` and ``env.json``.

``render`` is a pure function, so ``inv report DIR`` rebuilds the same file byte for byte.
"""
from __future__ import annotations

from itertools import groupby

from tabulate import tabulate

from bench.envfile import Roles, roles
from bench.records import CellRecord, LoadResult, Status, latest
from bench.stats import summarize

from . import headline, latency
from .variants import variants_section
from .charts import chart_links
from .loadhosts import (
    PER_HOST,
    load_hosts_section,
    saturated_words,
    several,
    threads_words,
)
from .machines import (
    environment_section,
    loadgen_warnings,
    settings_section,
    tuning_warnings,
)
from .summary import MARK, kbyte_per_s, numbers, per_core, req_per_s, rounds_words, workers


def _count(value: float) -> str:
    return f"{value:,.0f}"


def _median_latency(runs: list[LoadResult], key: str) -> float | None:
    values = [run.latency_us[key] for run in runs if run.latency_us.get(key) is not None]
    summary = summarize(values)
    return summary.median if summary else None


def _latency(runs: list[LoadResult]) -> str:
    p50, p90, p99 = (_median_latency(runs, key) for key in ("p50", "p90", "p99"))
    if p50 is None:  # several load hosts: each has its own percentiles, never averaged into one
        return PER_HOST if any(run.parts for run in runs) else "—"
    return " / ".join(f"{value / 1000:.2f}" if value is not None else "—" for value in (p50, p90, p99))


def result_row(record: CellRecord, base: CellRecord | None, keys: list[str], baseline: str) -> list:
    """One cell: its kind, its variant under ``keys``, its figures and its ratio to ``base``."""
    cell = record.cell
    summary = req_per_s(record)
    runs = record.measured
    if not summary:  # not a clean cell, or no run is a number: shown as "—" with its status, never as a rate
        rate, spread, cv, kbytes, core = f"— {MARK}", "", "", "", ""
    else:
        rate = _count(summary.median)
        spread = f"{_count(summary.low)}–{_count(summary.high)}"
        cv = f"{summary.cv:.1%}"
        kbytes = kbyte_per_s(record)
        kbytes = _count(kbytes.median) if kbytes else "—"
        cores = per_core(record)
        core = _count(cores.median) if cores else "—"
    failed = sum(run.failed for run in runs)
    errored = sum(run.errored for run in runs)
    non_2xx = sum(run.non_2xx for run in runs)
    if cell.server == baseline:
        ratio = "1.00" if summary else "—"
    else:
        ratio = headline.bounded_words(record, base, headline.clean_ratio(record, base))
    notes = list(record.verdicts)
    if (record.verify or {}).get("pipelined"):
        notes.insert(0, f"{cell.pipeline} pipelined, answers checked in order")
    if record.status is not Status.OK:
        notes.insert(0, str(record.status))
    return [
        cell.server, *[cell.variant.get(key, "") for key in keys], cell.workers,
        rate, spread, cv, core, kbytes, _latency(numbers(record)), failed, errored, non_2xx, ratio, ", ".join(notes),
    ]


def variant_keys(records: list[CellRecord]) -> list[str]:
    """What the cells' kinds vary (interpreter, mode, resource, twisted...): a column each."""
    return sorted({key for record in records for key in record.cell.variant})


def headers(keys: list[str], baseline: str) -> list[str]:
    return ["server", *keys, "workers", "req/s (median)", "min–max", "CV", "req/s per core", "kbyte/s",
            "latency p50 / p90 / p99 (ms)", "failed", "errored", "non-2xx", f"vs {baseline}", "notes"]


def _group_key(record: CellRecord):
    cell = record.cell
    return (not cell.keepalive, cell.payload)


def results_section(records: list[CellRecord], baseline: str) -> list[str]:
    lines = []
    bases = headline.baselines(records, baseline)
    keys = variant_keys(records)
    for (closing, payload), group in groupby(sorted(records, key=_group_key), key=_group_key):
        rows = [result_row(r, bases.get(headline.case_key(r)), keys, baseline) for r in group]
        lines += [f"### {payload} bytes, {'no keep-alive' if closing else 'keep-alive'}", "",
                  tabulate(rows, headers(keys, baseline), tablefmt="github", disable_numparse=True), ""]
    return lines


def problems_section(records: list[CellRecord]) -> list[str]:
    bad = [r for r in records if r.status is not Status.OK]
    if not bad:
        return []
    lines = [f"## {MARK} Cells that are not clean numbers", ""]
    for record in bad:
        reasons = "; ".join(dict.fromkeys(record.reasons)) or "no reason recorded"
        measured = f" ({rounds_words(record)}: no figure shown)" if record.measured else ""
        lines.append(f"- `{record.label}` ({_cell_words(record.cell)}): **{record.status}** — {reasons}{measured}")
    return lines + [""]


def _cell_words(cell: dict) -> str:
    return f"{cell.payload} bytes, {'keep-alive' if cell.keepalive else 'no keep-alive'}, {workers(cell.workers)}"



def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def limit_words(record: CellRecord) -> str:
    """Who was the limit, from the cell's verdicts (see bench.measure.verdicts)."""
    words = []
    if "client-bound" in record.verdicts:
        saturated = saturated_words(record)
        named = f" ({saturated})" if saturated else ""
        if "both saturated" in record.verdicts:
            words.append(f"client-bound{named}, both saturated: the server was busy too, so either may have "
                         f"been the limit; req/s is a lower bound")
        else:
            words.append(f"client-bound{named}: req/s is a lower bound")
    if "a worker saturated" in record.verdicts:
        words.append("a worker saturated: one server process was busy (80 % of a core) while the server as a "
                     "whole had room (its connections fell unevenly on its workers; see *Requests per worker*)")
    if "machine-bound" in record.verdicts:
        words.append("machine-bound: its CPUs were full, something else took what it could have used")
    return "; ".join(words) or "server"


def partition_words(env: dict) -> list[str]:
    """The CPU partition of the run, when it had one."""
    pinned = (env.get("settings") or {}).get("cpus") or {}
    if not pinned or pinned.get("server") in (None, "not pinned"):
        return []
    return [f"CPUs partitioned: the servers' workers on CPUs {pinned['server']} (one CPU each, in turn), "
            f"the load generator on CPUs {pinned.get('load')} (`taskset`).", ""]


def _cores(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def saturation_section(records: list[CellRecord], env: dict) -> list[str]:
    """CPU used by server, load generator, other processes and steal during the measured runs, and who was the limit."""
    rows = []
    for record in records:
        samples = [run.sample for run in record.numbers if "server_cores" in (run.sample or {})]
        if not samples:
            continue
        cell = record.cell
        server = _mean(x["server_cores"] for x in samples)
        loadgen = _mean(x.get("loadgen_cores") for x in samples)
        cpus = max((x["host_cpus"] for x in samples if "host_cpus" in x), default=None)
        busy = _mean(x["host_busy_cores"] + x["steal_cores"] for x in samples if "host_cpus" in x)
        rows.append([f"`{record.label}`", cell.payload, "yes" if cell.keepalive else "no", cell.workers,
                     f"{server:.2f}", f"{max(x['server_rss_mb'] for x in samples):.0f}", _cores(loadgen),
                     threads_words(record, cell.threads), "—" if busy is None else f"{busy:.2f} of {cpus}",
                     _cores(_mean(x.get("other_cores") for x in samples)),
                     _cores(_mean(x.get("steal_cores") for x in samples)), limit_words(record)])
    if not rows:
        return []
    hosts = ([] if not any(several(r) for r in records) else
             ["With several load hosts the load generator's cores are their sum and its threads each host's "
              "(1 + 1: two hosts of one thread); a cell is client-bound when, in most rounds, some load host "
              "used up its threads' cores, and the limit names the hosts saturated. Only a load host on the "
              "server's machine counts against its CPUs.", ""])
    return ["## Who was the limit", "",
            "CPU cores used on average during the measured runs (CPU seconds over each run ÷ the load tool's "
            "own seconds). *Machine busy* is the server machine's busy and steal time on the CPUs in play (all, or "
            "the partition's), from its `/proc/stat`; *other processes* is the busy part less the server, the load "
            "generators on that machine and the harness; *steal* what the hypervisor gave other guests. "
            "*client-bound*: in most rounds the load generator used 90 % or more of its threads' cores, so req/s "
            "is a lower bound for the server; *both saturated*: in those rounds the server also used 80 % or more "
            "of what it could, so either side may have been the limit. *machine-bound*: the CPUs the server could "
            "run on were 90 % busy while it got less than 80 % of what its workers could use (with a partition, "
            "likewise the load generator on its CPUs): something else took the rest. The per-core ratio in the "
            "first table divides each side's req/s by its server's cores: it assumes req/s scales linearly with "
            "cores, which nothing here measured.", "", *partition_words(env), *hosts,
            tabulate(rows, ["cell", "payload", "keep-alive", "workers", "server cores", "server RSS (MB)",
                            "load generator cores", "threads", "machine busy", "other processes", "steal",
                            "limit"], tablefmt="github", disable_numparse=True), "",
            *harness_words(records)]


def harness_words(records: list[CellRecord]) -> list[str]:
    """The harness's own CPU during the measured runs, when the runs recorded it."""
    cores = [run.sample["harness_cores"] for record in records for run in record.measured
             if "harness_cores" in (run.sample or {})]
    if not cores:
        return []
    return [f"The harness itself used {sum(cores) / len(cores):.3f} cores on average during the measured runs "
            f"(at most {max(cores):.3f}).", ""]


def workers_section(records: list[CellRecord]) -> list[str]:
    """How the server's requests fell on its workers (shared socket against reuseport)."""
    rows = []
    for record in records:
        counts = record.workers
        spread = record.spread
        if len(counts) < 2 or not spread:
            continue
        cell = record.cell
        shares = " / ".join(_count(counts[k]) for k in sorted(counts, key=int))
        rows.append([f"`{record.label}`", cell.payload, "yes" if cell.keepalive else "no",
                     shares, f"{spread['min_share']:.0%}–{spread['max_share']:.0%}", f"{spread['imbalance']:.2f}"])
    if not rows:
        return []
    return ["## Requests per worker", "",
            "Requests each worker served (warm-ups included). Imbalance is the busiest worker against the "
            "mean: 1.00 is an even spread.", "",
            tabulate(rows, ["cell", "payload", "keep-alive", "requests per worker", "share min–max", "imbalance"],
                     tablefmt="github", disable_numparse=True), ""]


def scaling_section(records: list[CellRecord]) -> list[str]:
    """req/s per worker count, and the efficiency against linear scaling from one worker."""
    series: dict[tuple, dict[int, float]] = {}
    for record in records:
        summary = req_per_s(record)
        if not summary:
            continue
        cell = record.cell
        key = (record.label, cell.payload, cell.keepalive)
        series.setdefault(key, {})[cell.workers] = summary.median
    sweeps = {key: points for key, points in series.items() if len(points) > 1}
    if not sweeps:
        return []
    counts = sorted({n for points in sweeps.values() for n in points})
    rows = []
    for (label, payload, alive), points in sorted(sweeps.items()):
        base = points.get(1)
        cells = []
        for n in counts:
            if n not in points:
                cells.append("—")
            elif base:
                cells.append(f"{_count(points[n])} ({points[n] / (n * base):.0%})")
            else:
                cells.append(_count(points[n]))
        rows.append([f"`{label}`", payload, "yes" if alive else "no", *cells])
    return ["## Scaling", "",
            "req/s by worker count; in brackets the efficiency against linear scaling, "
            "req/s at N ÷ (N × req/s at 1).", "",
            tabulate(rows, ["cell", "payload", "keep-alive", *[workers(n) for n in counts]],
                     tablefmt="github", disable_numparse=True), ""]


def commands_section(records: list[CellRecord]) -> list[str]:
    lines = ["## Command lines", ""]
    for record in records:
        runs = record.measured
        lines.append(f"- `{record.label}` ({_cell_words(record.cell)})")
        if record.server_command:
            config = f" ([its config]({record.server_config}))" if record.server_config else ""
            lines.append(f"  - server: `{record.server_command}`{config}")
        if runs:
            lines.append(f"  - load: `{runs[0].command}`")
    return lines + [""]


def render(records: list[CellRecord], env: dict, charts: list[str] = ()) -> str:
    records = latest(records)
    named: Roles = roles(env)
    kinds = [named.display(kind) for kind in headline.compared(records, named.baseline)]
    title = f"# {' and '.join(kinds) or 'Servers'} against {named.shown} — run {env.get('run', '?')}"
    intro = [title, ""]
    if env.get("started"):
        intro += [f"Started {env['started']}, `{env.get('command', 'inv bench')}`, "
                  f"harness commit {env.get('git') or 'unknown'}.", ""]
    pair = headline.pair_words(records, named)
    intro += [f"{len(records)} cells; req/s is the median of the measured runs that are clean numbers (warm-ups "
              f"and runs with failed, errored or non-2xx requests excluded), min–max their spread; a cell that is not clean "
              f"(flagged, failed, interrupted) shows no figure anywhere, only why; *vs {named.baseline}* is "
              f"the {pair} ratio at the same workers with its 95 % interval.", ""]
    body = (tuning_warnings(env) + loadgen_warnings(env) + headline.answer_section(records, named)
            + variants_section(records, named) + problems_section(records) + ["## Results", ""] + results_section(records, named.baseline)
            + load_hosts_section(records) + headline.drift_section(records) + scaling_section(records)
            + latency.latency_section(records, env) + chart_links(charts, pair) + saturation_section(records, env)
            + workers_section(records)
            + environment_section(env) + settings_section(env) + commands_section(records))
    return "\n".join(intro + body).rstrip() + "\n"
