"""Latency under load (``inv bench --latency``): a chart and tables per case, from results.jsonl and env.json alone.

Each cell swept keeps one wrk2 run per offered rate (``CellRecord.sweep``). Per case (payload ×
keep-alive × workers) the report gives:

- ``chart-latency-<payload>-<keepalive|close>-<workers>w.png``: corrected p50, p99 and p99.9 against the
  offered rate on a log scale, one colour per server; a step it sustained is a filled dot, one it did
  not (fell behind, p99 over the bound) an open one, and a step that is no figure (errors, or a load
  generator that saturated where its server did not sustain the rate) a cross at the foot; each server's
  knee a dash-dotted line;
- each server's knee (:mod:`bench.knee`), and at the slowest server's knee each server's p99 and its
  ratio to the baseline's (Nginx's);
- every step: offered and achieved rate, percentiles (corrected, and uncorrected p99), errors, the CPU
  of both sides and who was at the limit.

A cell that is not clean (flagged, failed, interrupted) shows no step's figure, as everywhere else.
"""
from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from tabulate import tabulate

from bench.envfile import roles
from bench.knee import SATURATED, SUSTAINED, Knee, Rule, has_figures, knee, saturated, verdict
from bench.manifest import describe_source
from bench.records import CellRecord, LoadResult, Status, latest

from .summary import MARK, req_per_s

PALETTE = ("tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan")
PERCENTILES = (("p50", ":"), ("p99", "-"), ("p99.9", "--"))
CHART = "chart-latency-"


# -- reading (pure) ---------------------------------------------------------------------

def rule_of(env: dict) -> Rule:
    """The knee's rule the run was measured with (env.json's settings.latency.knee)."""
    return Rule.of((((env.get("settings") or {}).get("latency") or {}).get("knee")))


def cases(records: list[CellRecord], baseline: str) -> dict[tuple[int, bool, int], list[CellRecord]]:
    """The swept cells by case (payload, keep-alive, workers), keep-alive first, the baseline first in each."""
    found: dict[tuple[int, bool, int], list[CellRecord]] = {}
    for record in latest(records):
        if record.sweep:
            found.setdefault(case_key(record), []).append(record)
    return {case: sorted(found[case], key=lambda r: (r.cell.server != baseline, r.label))
            for case in sorted(found, key=lambda c: (not c[1], c[0], c[2]))}


def steps(record: CellRecord) -> list[LoadResult]:
    """A cell's steps by offered rate; none for a cell that is not clean (its figures are never shown)."""
    return sorted(record.sweep, key=lambda step: step.offered_per_s) if record.status is Status.OK else []


def knee_of(record: CellRecord, rule: Rule) -> Knee:
    if record.status is not Status.OK:
        return Knee(None, None, why_not=str(record.status))
    return knee(steps(record), rule)


def shown(step: LoadResult, rule: Rule, bound: float | None) -> bool:
    """Whether a step's figures are shown: it has them, and they speak for its server (see bench.knee)."""
    return has_figures(step) and verdict(step, bound, rule) != SATURATED


def at_rate(record: CellRecord, rate: float, rule: Rule) -> LoadResult | None:
    bound = knee_of(record, rule).bound_us
    return next((step for step in steps(record) if step.offered_per_s == rate and shown(step, rule, bound)), None)


def slowest(records: list[CellRecord], rule: Rule) -> float | None:
    """The lowest knee among the case's servers (every one of them has one), where their p99s are compared."""
    knees = [knee_of(record, rule).rate for record in records]
    return min(knees) if knees and None not in knees else None


def case_slug(case: tuple[int, bool, int]) -> str:
    payload, keepalive, workers = case
    return f"{payload}-{'keepalive' if keepalive else 'close'}-{workers}w"


def case_words(case: tuple[int, bool, int]) -> str:
    payload, keepalive, workers = case
    return f"{payload} bytes, {'keep-alive' if keepalive else 'no keep-alive'}, {workers} worker{'s' * (workers != 1)}"


# -- tables (pure) -----------------------------------------------------------------------

def _ms(us: float | None) -> str:
    if us is None:
        return "—"
    return f"{us / 1000:.2f}" if us < 100_000 else f"{us / 1000:,.0f}"


def _rate(value: float) -> str:
    return f"{value:,.0f}"


def knee_words(found: Knee) -> str:
    if found.rate is None:
        return f"— ({found.why_not})"
    missed = f" (not held at {', '.join(_rate(rate) for rate in found.missed)} below it)" if found.missed else ""
    return ("≥ " if found.lower_bound else "") + _rate(found.rate) + missed


def cpu_words(step: LoadResult) -> str:
    """Who was at the limit during a step, from its sample (bench.measure.verdicts' thresholds)."""
    sample = step.sample or {}
    words = [word for key, word in (("saturated", "client-bound"), ("server_busy", "server busy"),
                                    ("worker_saturated", "a worker saturated"), ("machine_bound", "machine-bound"))
             if sample.get(key)]
    return ", ".join(words) or "—"


def tool_words(env: dict) -> list[str]:
    """How the run swept: wrk2's version and where it came from, the step and the connections."""
    latency = (env.get("settings") or {}).get("latency") or {}
    tool = latency.get("loadgen") or {}
    if not tool:
        return []
    source = describe_source(tool["source"]) if isinstance(tool.get("source"), dict) else "source unrecorded"
    return [f"Swept by {tool.get('version') or tool.get('tool', '?')} ({source}): {latency.get('step', '?')} s a step, "
            f"{latency.get('connections', '?')} connections on {latency.get('threads', '?')} thread(s); wrk2 keeps "
            f"latency only past each thread's calibration (10 s + 5 ms per connection of the thread)."
            + (f" After the grid, up to {latency['refine']} rate(s) more, each halfway between the slowest server's "
               f"knee and the next rate up, every server loaded at each." if latency.get("refine") else ""), ""]


def knee_table(records: list[CellRecord], rule: Rule) -> list[str]:
    rows = []
    for record in records:
        found, maximum = knee_of(record, rule), req_per_s(record)
        share = f"{found.rate / maximum.median:.0%}" if found.rate and maximum else "—"
        flag = f" {MARK}" if record.status is not Status.OK else ""
        rows.append([f"`{record.label}`{flag}", knee_words(found), share, _ms(found.bound_us)])
    return [tabulate(rows, ["server", "knee (req/s)", "knee ÷ its max req/s", "p99 bound (ms)"],
                     tablefmt="github", disable_numparse=True), ""]


def slowest_table(records: list[CellRecord], rule: Rule, baseline: str) -> list[str]:
    rate = slowest(records, rule)
    if rate is None:
        return ["No rate every server sustained: no p99s to compare.", ""]
    base = next((at_rate(r, rate, rule) for r in records if r.cell.server == baseline), None)
    rows, marked = [], False
    for record in records:
        step = at_rate(record, rate, rule)
        if step is None:
            rows.append([f"`{record.label}`", "—", "—", "—", "—"])
            continue
        ratio = f"{step.latency_us['p99'] / base.latency_us['p99']:.2f}" if base is not None else "—"
        at_most = "≤ " if saturated(step) else ""  # its load generator's lateness is in it: the server's is lower
        marked = marked or saturated(step)
        rows.append([f"`{record.label}`", *(at_most + _ms(step.latency_us.get(key)) for key, _ in PERCENTILES), ratio])
    return [f"At {_rate(rate)} req/s, the slowest server's knee (corrected for coordinated omission"
            f"{'; ≤: its load generator saturated, so the server’s own latency is at most this' if marked else ''}):", "",
            tabulate(rows, ["server", "p50 (ms)", "p99 (ms)", "p99.9 (ms)", f"p99 ÷ {baseline}'s"],
                     tablefmt="github", disable_numparse=True), ""]


def steps_table(records: list[CellRecord], rule: Rule) -> list[str]:
    rows = []
    for record in records:
        bound = knee_of(record, rule).bound_us
        for step in steps(record):
            sample = step.sample or {}
            said = verdict(step, bound, rule)
            figures = has_figures(step) and said != SATURATED  # as shown() has it, from the verdict at hand
            latency = " / ".join(_ms(step.latency_us.get(key)) for key, _ in PERCENTILES) if figures else "—"
            errors = step.errored + step.failed
            achieved = _rate(step.req_per_s) if figures else "—"
            if said == SUSTAINED and saturated(step):
                said += " (its load generator saturated: latency at most this)"
            rows.append([_rate(step.offered_per_s), f"`{record.label}`", achieved,
                         latency, _ms(step.uncorrected_us.get("p99")) if figures else "—",
                         f"{errors:,}" if errors else "0", f"{sample['server_cores']:.2f}" if "server_cores" in sample else "—",
                         f"{sample['loadgen_cores']:.2f}" if "loadgen_cores" in sample else "—", cpu_words(step),
                         said])
    rows.sort(key=lambda row: float(row[0].replace(",", "")))
    return [tabulate(rows, ["offered req/s", "server", "achieved req/s", "p50 / p99 / p99.9 (ms)", "uncorrected p99 (ms)",
                            "errors", "server cores", "wrk2 cores", "limit", "verdict"],
                     tablefmt="github", disable_numparse=True), ""]


def latency_section(records: list[CellRecord], env: dict) -> list[str]:
    """The report's section: per swept case, its chart, the knees, the p99s at the slowest knee and every step."""
    baseline = roles(env).baseline
    by_case = cases(records, baseline)
    if not by_case:
        return []
    rule = rule_of(env)
    bound = f"below {rule.p99_ms:g} ms" if rule.p99_ms is not None else f"below {rule.p99_factor:g}× its own p99 at its lowest rate"
    lines = ["## Latency under load", "",
             "After a case's rounds its servers were loaded again at fixed offered rates (wrk2, a share of the "
             "baseline's median req/s in the rounds), taking turns at each rate. Latency is wrk2's, from each "
             "request's intended start, so a stall shows in every request that waited behind it (corrected for "
             "coordinated omission); *uncorrected* is from each request's actual send, as closed-loop tools measure "
             f"it. A server *sustained* a rate when it answered every request 2xx, achieved {rule.achieved:.0%} of "
             f"it, and kept its p99 {bound}; its *knee* is the highest rate it sustained (≥: a higher step's load "
             "generator saturated where it fell short, so it may be higher). A step whose load generator saturated "
             "(*client-bound*) is marked; it still counts when its server sustained the rate, since a load generator "
             "that falls behind sends late and sends less, which only makes a server look worse; where its server "
             "fell short it says nothing about the server and is not used.", "", *tool_words(env)]
    for case, swept in by_case.items():
        lines += [f"### {case_words(case)}", "", f"![latency against offered rate, {case_words(case)}]"
                  f"({CHART}{case_slug(case)}.png)", "", *knee_table(swept, rule), *slowest_table(swept, rule, baseline),
                  *steps_table(swept, rule)]
    return lines


def p99_ratio(record: CellRecord, case: list[CellRecord], rule: Rule, baseline: str) -> float | None:
    """``record``'s p99 over the baseline's at its case's slowest knee; None where either has no figure there."""
    rate = slowest(case, rule)
    base = next((r for r in case if r.cell.server == baseline), None)
    mine, theirs = (None, None) if rate is None or base is None else (at_rate(record, rate, rule),
                                                                      at_rate(base, rate, rule))
    return mine.latency_us["p99"] / theirs.latency_us["p99"] if mine and theirs else None


def knees_compared(records_a: list[CellRecord], env_a: dict, records_b: list[CellRecord], env_b: dict) -> list[str]:
    """`inv compare`: each cell swept in both runs, its knee in A and in B, B's over A's, and its p99 against the
    baseline's at its case's slowest knee in each."""
    runs = []
    for records, env in ((records_a, env_a), (records_b, env_b)):
        baseline = roles(env).baseline
        by_case = cases(records, baseline)
        runs.append(({r.id: (r, by_case[key]) for key, case in by_case.items() for r in case}, rule_of(env), baseline))
    (a, rule_a, base_a), (b, rule_b, base_b) = runs
    rows = []
    for cell_id in [cell_id for cell_id in a if cell_id in b]:
        (mine_a, case_a), (mine_b, case_b) = a[cell_id], b[cell_id]
        knee_a, knee_b = knee_of(mine_a, rule_a), knee_of(mine_b, rule_b)
        change = f"{knee_b.rate / knee_a.rate:.2f}" if knee_a.rate and knee_b.rate else "—"
        bound = " (a bound: a load generator saturated)" if knee_a.lower_bound or knee_b.lower_bound else ""
        ratios = [p99_ratio(mine, case, rule, base)
                  for mine, case, rule, base in ((mine_a, case_a, rule_a, base_a), (mine_b, case_b, rule_b, base_b))]
        rows.append([f"`{mine_a.label}`", case_words(case_key(mine_a)), knee_words(knee_a), knee_words(knee_b),
                     change + bound, *("—" if ratio is None else f"{ratio:.2f}" for ratio in ratios)])
    if not rows:
        return []
    return ["## Knees, B against A", "",
            "Each server's knee (the highest fixed rate it sustained, see the runs' reports) in both runs, and its p99 "
            f"over its baseline's at its case's slowest knee. One sweep per run gives no interval, each run's grid is a "
            f"share of its own baseline's maximum, and the machine's speed drifts between runs: a knee moves by a step "
            "of the grid before it means anything.", "",
            tabulate(rows, ["server", "case", "knee A (req/s)", "knee B (req/s)", "B ÷ A", f"p99 ÷ {base_a}'s A",
                            f"p99 ÷ {base_b}'s B"], tablefmt="github", disable_numparse=True), ""]


def case_key(record: CellRecord) -> tuple[int, bool, int]:
    return (record.cell.payload, record.cell.keepalive, record.cell.workers)


# -- the chart (pure) ----------------------------------------------------------------------

def latency_figure(case: tuple[int, bool, int], records: list[CellRecord], rule: Rule, run: str) -> Figure:
    fig = Figure(figsize=(9.0, 5.5), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    ax.set_yscale("log")
    handles = []
    for index, record in enumerate(records):
        color = PALETTE[index % len(PALETTE)]
        swept = steps(record)
        found = knee_of(record, rule)
        figures = [step for step in swept if shown(step, rule, found.bound_us)]
        for key, style in PERCENTILES:
            xs = [step.offered_per_s for step in figures if key in step.latency_us]
            ys = [step.latency_us[key] / 1000 for step in figures if key in step.latency_us]
            ax.plot(xs, ys, color=color, linestyle=style, linewidth=1.2)
            held = [verdict(step, found.bound_us, rule) == SUSTAINED for step in figures if key in step.latency_us]
            ax.scatter(xs, ys, s=18, color=color, facecolors=[color if h else "none" for h in held], zorder=3)
        for step in swept:
            if step not in figures:  # no figure: a cross at the foot, and why
                ax.plot([step.offered_per_s], [0.02], transform=ax.get_xaxis_transform(), marker="x", color=color,
                        markersize=8, mew=2, clip_on=False)
                ax.annotate("saturated" if saturated(step) else "errors", (step.offered_per_s, 0.04),
                            xycoords=ax.get_xaxis_transform(), rotation=90, fontsize=7, color=color, ha="center")
        if found.rate is not None:
            ax.axvline(found.rate, color=color, linestyle="-.", linewidth=1, alpha=0.7)
        state = f"knee {knee_words(found)} req/s" if record.status is Status.OK else f"{record.status}: no figure"
        handles.append(Line2D([], [], color=color, marker="o", label=f"{record.label} ({state})"))
    handles += [Line2D([], [], color="gray", linestyle=style, label=key) for key, style in PERCENTILES]
    handles.append(Line2D([], [], color="gray", linestyle="-.", linewidth=1, label="knee"))
    handles += [Line2D([], [], color="gray", marker="o", linestyle="none", markerfacecolor="none",
                       label="not sustained (fell behind, or p99 over the bound)"),
                Line2D([], [], color="gray", marker="x", linestyle="none", label="no figure: errors, or a saturated load generator where it fell short")]
    ax.legend(handles=handles, fontsize=7, loc="upper left")
    ax.set_xlabel("offered rate (req/s)")
    ax.set_ylabel("latency, corrected for coordinated omission (ms, log)")
    ax.set_title(f"Latency against offered rate, {case_words(case)} — run {run}")
    ax.grid(alpha=0.3, which="both")
    return fig


def figures(records: list[CellRecord], env: dict) -> dict[str, Figure]:
    """A latency chart per swept case, by file name."""
    rule, run = rule_of(env), env.get("run", "?")
    return {f"{CHART}{case_slug(case)}.png": latency_figure(case, swept, rule, run)
            for case, swept in cases(records, roles(env).baseline).items()}
