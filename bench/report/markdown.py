"""The run's report: markdown rendered only from ``results.jsonl`` and ``env.json``.

``render`` is a pure function, so ``inv report DIR`` rebuilds the same file byte for byte.
"""
from __future__ import annotations

import json
from itertools import groupby

from tabulate import tabulate

from bench.records import CellRecord, latest
from bench.stats import summarize

from .charts import chart_links
from .summary import MARK, req_per_s, workers


def _count(value: float) -> str:
    return f"{value:,.0f}"


def _ratio(twisted: CellRecord, nginx: CellRecord | None) -> str:
    if not nginx or twisted.status != "ok" or nginx.status != "ok":
        return "—"
    mine, theirs = req_per_s(twisted), req_per_s(nginx)
    if not mine or not theirs or not theirs.median:
        return "—"
    return f"{mine.median / theirs.median:.2f}"


def _median_latency(runs: list[CellRecord], key: str) -> float | None:
    values = [run.latency_us[key] for run in runs if run.latency_us.get(key) is not None]
    summary = summarize(values)
    return summary.median if summary else None


def _latency(runs: list[CellRecord]) -> str:
    p50, p90, p99 = (_median_latency(runs, key) for key in ("p50", "p90", "p99"))
    if p50 is None:
        return "—"
    return " / ".join(f"{value / 1000:.2f}" if value is not None else "—" for value in (p50, p90, p99))


def result_row(record: CellRecord, nginx: CellRecord | None) -> list:
    cell = record.cell
    summary = req_per_s(record)
    runs = record.measured
    if record.status == "failed" or not summary:
        rate, spread, cv, kbytes = f"failed {MARK}", "", "", ""
    else:
        flag = f" {MARK}" if record.status != "ok" else ""
        rate = _count(summary.median) + flag
        spread = f"{_count(summary.low)}–{_count(summary.high)}"
        cv = f"{summary.cv:.1%}"
        kbytes = _count(summarize(run.kbyte_per_s for run in runs).median)
    failed = sum(run.failed for run in runs)
    errored = sum(run.errored for run in runs)
    non_2xx = sum(sum(n for code, n in run.status.items() if code != "2xx") for run in runs)
    if cell.server == "nginx":
        ratio = "1.00" if record.status == "ok" else "—"
    else:
        ratio = _ratio(record, nginx)
    notes = list(record.verdicts)
    if record.status != "ok":
        notes.insert(0, record.status)
    return [
        cell.server, cell.interpreter or "", cell.mode or "", cell.resource, cell.workers,
        rate, spread, cv, kbytes, _latency(runs), failed, errored, non_2xx, ratio, ", ".join(notes),
    ]


HEADERS = ["server", "interpreter", "mode", "resource", "workers", "req/s (median)", "min–max", "CV",
           "kbyte/s", "latency p50 / p90 / p99 (ms)", "failed", "errored", "non-2xx", "vs nginx", "notes"]


def _case(cell: dict) -> tuple:
    return (cell.keepalive, cell.payload, cell.workers)


def nginx_baselines(records: list[CellRecord]) -> dict[tuple, CellRecord]:
    """Nginx's record for each keep-alive × payload × workers: what Twisted is set against."""
    return {_case(r.cell): r for r in records if r.cell.server == "nginx"}


def _group_key(record: CellRecord):
    cell = record.cell
    return (not cell.keepalive, cell.payload)


def results_section(records: list[CellRecord]) -> list[str]:
    lines = []
    nginx = nginx_baselines(records)
    for (closing, payload), group in groupby(sorted(records, key=_group_key), key=_group_key):
        rows = [result_row(r, nginx.get(_case(r.cell))) for r in group]
        lines += [f"### {payload} bytes, {'no keep-alive' if closing else 'keep-alive'}", "",
                  tabulate(rows, HEADERS, tablefmt="github", disable_numparse=True), ""]
    return lines


def answer_section(records: list[CellRecord]) -> list[str]:
    """The question in one table: Twisted's req/s as a share of Nginx's, per configuration and case."""
    nginx = nginx_baselines(records)
    twisted = [r for r in records if r.cell.server == "twisted"]
    if not nginx or not twisted:
        return []
    cases = sorted({(not r.cell.keepalive, r.cell.payload) for r in twisted})
    several = len({r.cell.workers for r in twisted}) > 1
    rows: dict[str, dict] = {}
    for record in twisted:
        cell = record.cell
        name = f"`{record.label}`" + (f" ×{cell.workers}" if several else "")
        baseline = nginx.get(_case(cell))
        ratio = _ratio(record, baseline)
        if ratio != "—" and any("client-bound" in r.verdicts for r in (record, baseline)):
            ratio += " *"
        rows.setdefault(name, {})[(not cell.keepalive, cell.payload)] = ratio
    headers = ["Twisted", *[f"{payload} B, {'close' if closing else 'keep-alive'}" for closing, payload in cases]]
    return ["## Twisted against Nginx", "",
            "Twisted's median req/s divided by Nginx's, same payload, keep-alive and workers "
            "(— where either side is not a clean number; * where a side was client-bound, so its "
            "req/s is only a lower bound: see *Who was the limit*).", "",
            tabulate([[name, *[ratios.get(case, "—") for case in cases]] for name, ratios in rows.items()],
                     headers, tablefmt="github", disable_numparse=True), ""]


def problems_section(records: list[CellRecord]) -> list[str]:
    bad = [r for r in records if r.status != "ok"]
    if not bad:
        return []
    lines = [f"## {MARK} Cells that are not clean numbers", ""]
    for record in bad:
        reasons = "; ".join(dict.fromkeys(record.reasons)) or "no reason recorded"
        lines.append(f"- `{record.label}` ({_cell_words(record.cell)}): **{record.status}** — {reasons}")
    return lines + [""]


def _cell_words(cell: dict) -> str:
    return f"{cell.payload} bytes, {'keep-alive' if cell.keepalive else 'no keep-alive'}, {workers(cell.workers)}"



def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def saturation_section(records: list[CellRecord]) -> list[str]:
    """CPU used by server and load generator during the measured runs, and who was the limit."""
    rows = []
    for record in records:
        samples = [run.sample for run in record.measured if run.sample]
        if not samples:
            continue
        cell = record.cell
        bound = "client-bound: req/s is a lower bound" if "client-bound" in record.verdicts else "server"
        loadgen = _mean(x.get("loadgen_cores") for x in samples)
        rows.append([f"`{record.label}`", cell.payload, "yes" if cell.keepalive else "no", cell.workers,
                     f"{_mean(x['server_cores'] for x in samples):.2f}", f"{max(x['server_rss_mb'] for x in samples):.0f}",
                     "—" if loadgen is None else f"{loadgen:.2f}", cell.threads, bound])
    if not rows:
        return []
    return ["## Who was the limit", "",
            "CPU cores used on average during the measured runs. A cell is *client-bound* when the load "
            "generator used up the cores of its threads while the server had room: its req/s is then a "
            "lower bound for the server.", "",
            tabulate(rows, ["cell", "payload", "keep-alive", "workers", "server cores", "server RSS (MB)",
                            "load generator cores", "threads", "limit"], tablefmt="github", disable_numparse=True), ""]


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
        if record.status != "ok" or not summary:
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


def untuned(host: dict) -> list[str]:
    """The settings of a host below its tuning profile."""
    settings = (host.get("tuning") or {}).get("settings") or {}
    return sorted(name for name, row in settings.items() if row.get("tuned") is False)


def tuning_warnings(env: dict) -> list[str]:
    lines = []
    for host in env.get("hosts", []):
        below = untuned(host)
        if below:
            profile = host["tuning"].get("profile", "seed")
            shown = ", ".join(below[:4]) + (f" and {len(below) - 4} more" if len(below) > 4 else "")
            lines.append(f"> {MARK} **{host['role']} host {host['name']} was not tuned** to the `{profile}` profile "
                         f"({shown}): run `inv tune` there; its numbers may be limited by the defaults.")
    return lines + [""] if lines else []


def tuning_section(env: dict) -> list[str]:
    hosts = [h for h in env.get("hosts", []) if (h.get("tuning") or {}).get("settings")]
    if not hosts:
        return []
    names = sorted({name for h in hosts for name in h["tuning"]["settings"]})
    rows = []
    for name in names:
        row = [f"`{name}`"]
        for host in hosts:
            entry = host["tuning"]["settings"].get(name)
            if not entry:
                row.append("—")
                continue
            mark = {True: "tuned", False: f"{MARK} not tuned", None: ""}[entry.get("tuned")]
            wanted = f" (profile {entry['profile']})" if entry.get("profile") else ""
            row.append(f"{entry.get('current') or '—'}{wanted} {mark}".strip())
        rows.append(row)
    return ["### Tuning (current against the profile)", "",
            tabulate(rows, ["setting", *[f"{h['role']} ({h['name']})" for h in hosts]], tablefmt="github",
                     disable_numparse=True), ""]


def provenance_section(env: dict) -> list[str]:
    from bench.manifest import describe_source

    rows = []
    for host in env.get("hosts", []):
        for name, tool in sorted(((host.get("manifest") or {}).get("tools") or {}).items()):
            said = (tool.get("version_output") or "").splitlines()
            rows.append([host["name"], name, tool.get("version") or "—", describe_source(tool.get("source") or {}),
                         said[0] if said else ""])
    if not rows:
        return []
    return ["### Tools (from `inv setup`'s manifest)", "",
            tabulate(rows, ["host", "tool", "version", "from", "it says"], tablefmt="github", disable_numparse=True), ""]


def environment_section(env: dict) -> list[str]:
    hosts = env.get("hosts", [])
    if not hosts:
        return ["## Environment", "", "No env.json was recorded for this run.", ""]
    names = [f"{h['role']} ({h['name']})" for h in hosts]
    rows = [
        ["CPU", *[h.get("cpu_model", "") for h in hosts]],
        ["cores", *[h.get("cpus", "") for h in hosts]],
        ["memory", *[f"{h.get('memory_kb', 0) / 1048576:.1f} GiB" for h in hosts]],
        ["OS", *[h.get("os", "") for h in hosts]],
        ["kernel", *[h.get("kernel", "") for h in hosts]],
        ["CPU governor", *[h.get("governor", "") for h in hosts]],
        ["ulimit -n (soft/hard)", *[f"{h['nofile'].get('soft')}/{h['nofile'].get('hard')}" for h in hosts]],
        ["nginx", *[h.get("nginx") or "—" for h in hosts]],
    ]
    for name in sorted({n for h in hosts for n in h.get("pythons", {})}):
        rows.append([f"Twisted on {name}", *[_python_words(h.get("pythons", {}).get(name)) for h in hosts]])
    rows.append(["load generator", *[(h.get("loadgen") or {}).get("version") or "—" for h in hosts]])
    lines = ["## Environment", "", tabulate(rows, ["", *names], tablefmt="github", disable_numparse=True), ""]
    keys = sorted({k for h in hosts for k in h.get("sysctl", {})})
    if keys:
        sysctl_rows = [[f"`{key}`", *[h.get("sysctl", {}).get(key) or "—" for h in hosts]] for key in keys]
        lines += ["### Kernel settings (the seed's variables of interest)", "",
                  tabulate(sysctl_rows, ["sysctl", *names], tablefmt="github", disable_numparse=True), ""]
    return lines + tuning_section(env) + provenance_section(env)


def _python_words(python: dict | None) -> str:
    if not python:
        return "—"
    if "error" in python:
        return python["error"]
    base = f"{python['implementation']} {python['version']}"
    if python.get("pypy"):
        base = f"PyPy {python['pypy']} (Python {python['version']})"
    return f"Twisted {python['twisted']} on {base}"


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


def settings_section(env: dict) -> list[str]:
    settings = env.get("settings", {})
    if not settings:
        return []
    rows = [[key, json.dumps(value) if isinstance(value, (dict, list)) else value] for key, value in sorted(settings.items())]
    return ["## Settings", "", tabulate(rows, ["setting", "value"], tablefmt="github", disable_numparse=True), ""]


def render(records: list[CellRecord], env: dict, charts: list[str] = ()) -> str:
    records = latest(records)
    title = f"# Twisted Web against Nginx — run {env.get('run', '?')}"
    intro = [title, ""]
    if env.get("started"):
        intro += [f"Started {env['started']}, `{env.get('command', 'inv bench')}`, "
                  f"harness commit {env.get('git') or 'unknown'}.", ""]
    intro += [f"{len(records)} cells; req/s is the median of the measured repeats (warm-ups excluded), "
              f"min–max their spread; *vs nginx* is the Twisted/Nginx ratio of medians at the same workers.", ""]
    body = (tuning_warnings(env) + answer_section(records) + problems_section(records) + ["## Results", ""]
            + results_section(records)
            + scaling_section(records) + chart_links(charts) + saturation_section(records) + workers_section(records)
            + environment_section(env) + settings_section(env) + commands_section(records))
    return "\n".join(intro + body).rstrip() + "\n"

