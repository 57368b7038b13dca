"""The report's sections about the machines: hardware, kernel settings, tuning, tools and settings (pure)."""
from __future__ import annotations

import json

from tabulate import tabulate

from bench.manifest import describe_source
from bench.measure import SETTING_LABELS

from .summary import MARK


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


def loadgen_warnings(env: dict) -> list[str]:
    """A line for each load host where the preferred load generator (the first of setup.loadgens) did not
    make the numbers."""
    lines = []
    for host in env.get("hosts", []):
        facts = host.get("loadgen") or {}
        if facts.get("replaced"):
            preferred = _preferred(facts)
            lines.append(f"> {MARK} **The preferred load generator, {preferred}, was replaced by "
                         f"{facts.get('version') or facts.get('tool', '?')}** on {host['name']}: {facts['replaced']}. "
                         f"Its figures are not {preferred}'s.")
    return lines + [""] if lines else []


def loadgen_words(facts: dict | None) -> str:
    """The load generator's version and where it came from, in one cell."""
    if not facts:
        return "—"
    words = facts.get("version") or facts.get("tool") or "—"
    if facts.get("source"):
        words += f", {describe_source(facts['source'])}"
    return words + (f" (replaces {_preferred(facts)})" if facts.get("replaced") else "")


def _preferred(facts: dict) -> str:
    return facts.get("preferred") or "weighttp"  # runs from before setup.loadgens preferred the seed's weighttp


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
        ["ulimit -n (soft/hard)", *[f"{(h.get('nofile') or {}).get('soft')}/{(h.get('nofile') or {}).get('hard')}" for h in hosts]],
    ]
    rows += server_rows(hosts)
    rows.append(["load generator", *[loadgen_words(h.get("loadgen")) for h in hosts]])
    lines = ["## Environment", "", tabulate(rows, ["", *names], tablefmt="github", disable_numparse=True), ""]
    keys = sorted({k for h in hosts for k in h.get("sysctl", {})})
    if keys:
        sysctl_rows = [[f"`{key}`", *[h.get("sysctl", {}).get(key) or "—" for h in hosts]] for key in keys]
        lines += ["### Kernel settings (the seed's variables of interest)", "",
                  tabulate(sysctl_rows, ["sysctl", *names], tablefmt="github", disable_numparse=True), ""]
    return lines + tuning_section(env) + provenance_section(env)


def server_rows(hosts: list[dict]) -> list[list[str]]:
    """A row per fact of each server kind (its version, each Twisted environment), a column per host."""
    found: dict[tuple[str, str], None] = {}
    for host in hosts:
        found.update(((kind, row), None) for kind, rows in sorted((host.get("servers") or {}).items()) for row in rows)
    return [[row, *[((h.get("servers") or {}).get(kind) or {}).get(row) or "—" for h in hosts]] for kind, row in found]


def settings_section(env: dict, labels: dict[str, str] = SETTING_LABELS) -> list[str]:
    """env.json's settings, each under its label from the option table, in its order (a key it does not
    know, from another harness, under its own name, after them)."""
    settings = env.get("settings", {})
    if not settings:
        return []
    keys = [key for key in labels if key in settings] + sorted(key for key in settings if key not in labels)
    rows = [[labels.get(key, key), json.dumps(value) if isinstance(value, (dict, list)) else value]
            for key in keys for value in (settings[key],)]
    return ["## Settings", "", tabulate(rows, ["setting", "value"], tablefmt="github", disable_numparse=True), ""]
