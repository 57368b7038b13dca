"""The run's report: markdown rendered only from ``results.jsonl`` and ``env.json``.

``render`` is a pure function, so ``inv report DIR`` rebuilds the same file byte for byte.
"""
from __future__ import annotations

import json
from itertools import groupby
from pathlib import Path

from tabulate import tabulate

from .results import read_jsonl
from .stats import summarize

MARK = "⚠"


def load_run(run_dir: str | Path) -> tuple[list[dict], dict]:
    run_dir = Path(run_dir)
    if not (run_dir / "results.jsonl").exists():
        raise FileNotFoundError(f"{run_dir} has no results.jsonl")
    env_path = run_dir / "env.json"
    env = json.loads(env_path.read_text()) if env_path.exists() else {}
    return read_jsonl(run_dir / "results.jsonl"), env


def latest(records: list[dict]) -> list[dict]:
    """One record per cell: the last one written wins (a resumed or re-measured cell)."""
    by_id = {}
    for record in records:
        by_id[record["id"]] = record
    return list(by_id.values())


def measured(record: dict) -> list[dict]:
    return [run for run in record.get("runs", []) if not run.get("warmup")]


def req_per_s(record: dict):
    return summarize(run["req_per_s"] for run in measured(record))


def _count(value: float) -> str:
    return f"{value:,.0f}"


def _ratio(twisted: dict, nginx: dict | None) -> str:
    if not nginx or twisted["status"] != "ok" or nginx["status"] != "ok":
        return "—"
    mine, theirs = req_per_s(twisted), req_per_s(nginx)
    if not mine or not theirs or not theirs.median:
        return "—"
    return f"{mine.median / theirs.median:.2f}"


def result_row(record: dict, nginx: dict | None) -> list:
    cell = record["cell"]
    summary = req_per_s(record)
    runs = measured(record)
    if record["status"] == "failed" or not summary:
        rate, spread, kbytes = f"failed {MARK}", "", ""
    else:
        flag = f" {MARK}" if record["status"] != "ok" else ""
        rate = _count(summary.median) + flag
        spread = f"{_count(summary.low)}–{_count(summary.high)}"
        kbytes = _count(summarize(run["kbyte_per_s"] for run in runs).median)
    failed = sum(run.get("failed", 0) for run in runs)
    errored = sum(run.get("errored", 0) for run in runs)
    non_2xx = sum(sum(n for code, n in run.get("status", {}).items() if code != "2xx") for run in runs)
    return [
        cell["server"], cell["interpreter"] or "", cell["mode"] or "", cell["resource"], cell["workers"],
        rate, spread, kbytes, failed, errored, non_2xx,
        "1.00" if cell["server"] == "nginx" and record["status"] == "ok" else _ratio(record, nginx) if cell["server"] != "nginx" else "—",
    ]


HEADERS = ["server", "interpreter", "mode", "resource", "workers", "req/s (median)", "min–max",
           "kbyte/s", "failed", "errored", "non-2xx", "vs nginx"]


def _group_key(record: dict):
    cell = record["cell"]
    return (not cell["keepalive"], cell["payload"])


def results_section(records: list[dict]) -> list[str]:
    lines = []
    for (closing, payload), group in groupby(sorted(records, key=_group_key), key=_group_key):
        group = list(group)
        nginx = {r["cell"]["workers"]: r for r in group if r["cell"]["server"] == "nginx"}
        rows = [result_row(r, nginx.get(r["cell"]["workers"])) for r in group]
        lines += [f"### {payload} bytes, {'no keep-alive' if closing else 'keep-alive'}", "",
                  tabulate(rows, HEADERS, tablefmt="github", disable_numparse=True), ""]
    return lines


def problems_section(records: list[dict]) -> list[str]:
    bad = [r for r in records if r["status"] != "ok"]
    if not bad:
        return []
    lines = [f"## {MARK} Cells that are not clean numbers", ""]
    for record in bad:
        reasons = "; ".join(dict.fromkeys(record.get("reasons", []))) or "no reason recorded"
        lines.append(f"- `{record['label']}` ({_cell_words(record['cell'])}): **{record['status']}** — {reasons}")
    return lines + [""]


def _cell_words(cell: dict) -> str:
    return f"{cell['payload']} bytes, {'keep-alive' if cell['keepalive'] else 'no keep-alive'}, {cell['workers']} workers"


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
    return lines


def _python_words(python: dict | None) -> str:
    if not python:
        return "—"
    if "error" in python:
        return python["error"]
    base = f"{python['implementation']} {python['version']}"
    if python.get("pypy"):
        base = f"PyPy {python['pypy']} (Python {python['version']})"
    return f"Twisted {python['twisted']} on {base}"


def commands_section(records: list[dict]) -> list[str]:
    lines = ["## Command lines", ""]
    for record in records:
        runs = measured(record)
        lines.append(f"- `{record['label']}` ({_cell_words(record['cell'])})")
        if record.get("server_command"):
            lines.append(f"  - server: `{record['server_command']}`")
        if runs:
            lines.append(f"  - load: `{runs[0]['command']}`")
    return lines + [""]


def settings_section(env: dict) -> list[str]:
    settings = env.get("settings", {})
    if not settings:
        return []
    rows = [[key, json.dumps(value) if isinstance(value, (dict, list)) else value] for key, value in sorted(settings.items())]
    return ["## Settings", "", tabulate(rows, ["setting", "value"], tablefmt="github", disable_numparse=True), ""]


def render(records: list[dict], env: dict) -> str:
    records = latest(records)
    title = f"# Twisted Web against Nginx — run {env.get('run', '?')}"
    intro = [title, ""]
    if env.get("started"):
        intro += [f"Started {env['started']}, `{env.get('command', 'inv bench')}`, "
                  f"harness commit {env.get('git') or 'unknown'}.", ""]
    intro += [f"{len(records)} cells; req/s is the median of the measured repeats (warm-ups excluded), "
              f"min–max their spread; *vs nginx* is the Twisted/Nginx ratio of medians at the same workers.", ""]
    return "\n".join(intro + problems_section(records) + ["## Results", ""] + results_section(records)
                     + environment_section(env) + settings_section(env) + commands_section(records)).rstrip() + "\n"


def write(run_dir: str | Path) -> Path:
    records, env = load_run(run_dir)
    target = Path(run_dir) / "report.md"
    target.write_text(render(records, env))
    return target
