"""The run's charts: PNGs drawn only from ``results.jsonl`` and ``env.json``.

Four kinds, one file per case (payload × keep-alive) where it applies:

- ``chart-reqs-<payload>-<keepalive|close>.png``: req/s per server configuration, bars at
  the median of the measured repeats with min–max error bars, one bar per worker count;
- ``chart-ratio.png``: the headline ratio to the baseline (Nginx) per configuration at equal workers;
  a ratio with a client- or machine-bound side is drawn hatched and marked as a bound;
- ``chart-scaling-<payload>-<keepalive|close>.png``: req/s against workers for each
  configuration measured at several worker counts, beside linear scaling from its
  smallest worker count;
- ``chart-latency-...png``: latency against offered rate, per case swept (:mod:`.latency`).

A cell that is not clean (flagged, failed, interrupted) has no bar or point: a red cross
and its status stand where it would be (its figures never reach a chart). The PNGs carry
no timestamp or version metadata, so drawing the same run again writes the same bytes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from bench.envfile import Roles, roles
from bench.records import CellRecord, Status, latest

from . import headline, latency
from .summary import load_run, req_per_s

DPI = 100
HEIGHT = 5.0
NOT_CLEAN = "tab:red"
PALETTE = ("tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink",
           "tab:olive", "tab:cyan", "tab:gray")
BOUND_HATCH = {"client-bound": "//", "machine-bound": ".."}
BOUND_WORDS = {"client-bound": "≤ ≥ *: a side client-bound: a bound (≤ upper, ≥ lower, * both: no direction)",
               "machine-bound": "†: machine-bound: a side's CPU went to the load generator"}
# No "Software" (matplotlib's version) in the file: the bytes depend on the data alone.
PNG_METADATA = {"Software": None}


@dataclass(frozen=True)
class Point:
    """One cell as the charts draw it: a configuration at some workers, and its req/s."""

    label: str  # the server configuration, e.g. 'nginx' or 'twisted/cpython/shared/fixed/26.10.0'
    workers: int
    status: Status
    median: float | None
    low: float | None
    high: float | None
    verdicts: tuple[str, ...] = ()

    @property
    def clean(self) -> bool:
        return self.status is Status.OK and self.median is not None

    @property
    def note(self) -> str:
        """What to write beside the point: its status when not clean, else its verdicts."""
        return str(self.status) if not self.clean else ", ".join(self.verdicts)


@dataclass(frozen=True)
class Ratio:
    """The headline ratio to the baseline at the same workers with its interval, or why there is none."""

    case: tuple[int, bool]
    label: str
    workers: int
    value: float | None
    why_not: str = ""
    low: float | None = None
    high: float | None = None
    bounds: tuple[str, ...] = ()  # "client-bound", "machine-bound": a side was held back, so this is a bound
    direction: str = ""  # "≤ " an upper bound (the baseline held back by its load generator), "≥ " a lower bound
    marks: str = ""  # " *" both sides client-bound (no direction), " †" machine-bound: as the report marks them

    @property
    def words(self) -> str:
        """The value as drawn beside the bar: with its direction and the report's marks when it is a bound."""
        return f"{self.direction}{self.value:.2f}{self.marks}"


# -- planning (pure) -------------------------------------------------------------------

def case_words(case: tuple[int, bool]) -> str:
    payload, keepalive = case
    return f"{payload} bytes, {'keep-alive' if keepalive else 'no keep-alive'}"


def case_slug(case: tuple[int, bool]) -> str:
    payload, keepalive = case
    return f"{payload}-{'keepalive' if keepalive else 'close'}"


def point(record: CellRecord) -> Point:
    summary = req_per_s(record)  # None for a cell that is not clean
    return Point(label=record.label, workers=record.cell.workers, status=record.status,
                 median=summary.median if summary else None, low=summary.low if summary else None,
                 high=summary.high if summary else None, verdicts=tuple(record.verdicts))


def cases(records: list[CellRecord]) -> dict[tuple[int, bool], list[Point]]:
    """Points by case, keep-alive first then by payload (the report's order)."""
    by_case: dict[tuple[int, bool], list[Point]] = {}
    for record in latest(records):
        cell = record.cell
        by_case.setdefault((cell.payload, cell.keepalive), []).append(point(record))
    return {case: by_case[case] for case in sorted(by_case, key=lambda c: (not c[1], c[0]))}


def configurations(points: list[Point], baseline: str) -> list[str]:
    """Labels in drawing order: the baseline first, then the other configurations by name."""
    return sorted({p.label for p in points}, key=lambda label: (label != baseline, label))


def ratios(records: list[CellRecord], baseline: str) -> list[Ratio]:
    """Every cell that has a baseline cell in its case, with the ratio as the report gives it."""
    records = latest(records)
    bases = headline.baselines(records, baseline)
    found = []
    for mine in sorted((r for r in records if r.cell.server != baseline), key=lambda r: (r.label, r.cell.workers)):
        theirs = bases.get(headline.case_key(mine))
        if theirs is None:
            continue
        case = (mine.cell.payload, mine.cell.keepalive)
        interval = headline.clean_ratio(mine, theirs)
        if interval is not None:
            found.append(Ratio(case, mine.label, mine.cell.workers, interval.centre, low=interval.low,
                               high=interval.high, **bound(mine, theirs)))
        elif mine.status is not Status.OK:
            found.append(Ratio(case, mine.label, mine.cell.workers, None, f"{mine.cell.server} {mine.status}"))
        else:
            found.append(Ratio(case, mine.label, mine.cell.workers, None, f"{baseline} {theirs.status}"))
    return found


def bound(mine: CellRecord, base: CellRecord) -> dict:
    """Which limits make a ratio a bound (its hatching), and its direction and marks as the report gives them."""
    bounds = tuple(verdict for verdict in BOUND_HATCH if verdict in mine.verdicts or verdict in base.verdicts)
    direction, marks = headline.bound(mine, base)
    return {"bounds": bounds, "direction": direction, "marks": marks}


def scaling_lines(points: list[Point], baseline: str) -> dict[str, list[Point]]:
    """Configurations measured at two or more worker counts, their points by workers."""
    lines = {}
    for label in configurations(points, baseline):
        mine = sorted((p for p in points if p.label == label), key=lambda p: p.workers)
        if len({p.workers for p in mine}) >= 2:
            lines[label] = mine
    return lines


def linear_reference(line: list[Point]) -> list[tuple[int, float]]:
    """Perfect scaling from the smallest clean worker count (1 worker when measured)."""
    base = next((p for p in line if p.clean), None)
    if base is None:
        return []
    return [(p.workers, base.median * p.workers / base.workers) for p in line if p.workers >= base.workers]


# -- drawing ---------------------------------------------------------------------------

def _tick(label: str) -> str:
    return label.replace("/", "\n", 1)


def _workers_words(workers: int) -> str:
    return f"{workers} worker{'s' if workers != 1 else ''}"


def _figure(width: float) -> Figure:
    return Figure(figsize=(width, HEIGHT), dpi=DPI, layout="constrained")


def reqs_figure(case: tuple[int, bool], points: list[Point], run: str, baseline: str) -> Figure:
    """Bars of req/s per configuration, one per worker count."""
    labels = configurations(points, baseline)
    counts = sorted({p.workers for p in points})
    colors = {w: PALETTE[i % len(PALETTE)] for i, w in enumerate(counts)}
    width = 0.8 / len(counts)
    fig = _figure(min(16.0, max(7.0, 1.1 * len(labels) * max(1, len(counts) / 2) + 2)))
    ax = fig.add_subplot()
    top = max((p.high for p in points if p.high is not None), default=1.0) or 1.0
    for i, label in enumerate(labels):
        for j, workers in enumerate(counts):
            p = next((p for p in points if p.label == label and p.workers == workers), None)
            if p is None:
                continue
            x = i + (j - (len(counts) - 1) / 2) * width
            if not p.clean:
                _mark_missing(ax, x, top, str(p.status), fontsize=9)
                continue
            ax.bar([x], [p.median], width * 0.9, yerr=[[p.median - p.low], [p.high - p.median]], capsize=3,
                   color=colors[workers], ecolor="black")
            if p.note:
                ax.text(x, p.high + top * 0.01, p.note, rotation=90, ha="center", va="bottom", fontsize=8,
                        color="dimgray")
    ax.set_xticks(range(len(labels)), [_tick(label) for label in labels], fontsize=8)
    ax.set_ylim(0, top * 1.25)
    ax.set_ylabel("requests per second (median, min–max)")
    ax.set_title(f"{case_words(case)} — run {run}")
    handles = [Patch(facecolor=colors[w], label=_workers_words(w)) for w in counts]
    if any(not p.clean for p in points):
        handles.append(_no_figure())
    ax.legend(handles=handles, fontsize=8, loc="upper right")
    ax.grid(axis="y", alpha=0.3)
    return fig


def _no_figure(label: str = "not clean: no figure (see report)") -> Line2D:
    """The legend's entry for the red cross that stands where a cell that is not clean would be."""
    return Line2D([], [], color=NOT_CLEAN, marker="x", linestyle="none", label=label)


def _mark_missing(ax, x: float, top: float, why: str, fontsize: int) -> None:
    """No bar where there is no clean number: a red cross at the foot, and why."""
    ax.plot([x], [0], marker="x", color=NOT_CLEAN, markersize=10, mew=2, clip_on=False)
    ax.text(x, top * 0.04, why, rotation=90, ha="center", va="bottom", color=NOT_CLEAN, fontsize=fontsize)


def ratio_figure(found: list[Ratio], run: str, named: Roles, pair: str) -> Figure:
    """Ratios to the baseline (``pair``: 'Twisted/Nginx'): one group per configuration and workers, one bar per case."""
    groups = sorted({(r.label, r.workers) for r in found})
    case_list = sorted({r.case for r in found}, key=lambda c: (not c[1], c[0]))
    colors = {case: PALETTE[i % len(PALETTE)] for i, case in enumerate(case_list)}
    width = 0.8 / len(case_list)
    fig = _figure(min(16.0, max(7.0, 0.6 * len(groups) * len(case_list) + 2)))
    ax = fig.add_subplot()
    top = max([r.high or r.value for r in found if r.value is not None] + [1.0])
    for i, group in enumerate(groups):
        for j, case in enumerate(case_list):
            r = next((r for r in found if (r.label, r.workers) == group and r.case == case), None)
            if r is None:
                continue
            x = i + (j - (len(case_list) - 1) / 2) * width
            if r.value is None:
                _mark_missing(ax, x, top, r.why_not, fontsize=8)
                continue
            # A bound is hatched, unfilled, and says its direction and marks: never drawn like a clean ratio.
            ax.bar([x], [r.value], width * 0.9, color="none" if r.bounds else colors[case], edgecolor=colors[case],
                   hatch="".join(BOUND_HATCH[b] for b in r.bounds) or None, capsize=3, ecolor="black",
                   yerr=None if r.low is None else [[r.value - r.low], [r.high - r.value]])
            ax.text(x, (r.high or r.value) + top * 0.01, r.words, ha="center", va="bottom", fontsize=8)
    ax.axhline(1.0, color="black", linestyle="--", linewidth=1)
    ax.set_xticks(range(len(groups)), [f"{_tick(label)}\n×{workers}" for label, workers in groups], fontsize=8)
    ax.set_ylim(0, top * 1.5)  # room for the legend above the parity line
    ax.set_ylabel(f"req/s ÷ {named.shown} req/s (95 % interval)")
    ax.set_title(f"{pair} at equal workers — run {run}")
    handles = [Patch(facecolor=colors[c], label=case_words(c)) for c in case_list]
    handles.append(Line2D([], [], color="black", linestyle="--", label=named.shown))
    for verdict, words in BOUND_WORDS.items():
        if any(verdict in r.bounds for r in found):
            handles.append(Patch(facecolor="none", edgecolor="black", hatch=BOUND_HATCH[verdict],
                                 label=words))
    if any(r.value is None for r in found):
        handles.append(_no_figure("not clean: no ratio"))
    ax.legend(handles=handles, fontsize=8, loc="upper right")
    ax.grid(axis="y", alpha=0.3)
    return fig


def scaling_figure(case: tuple[int, bool], lines: dict[str, list[Point]], run: str) -> Figure:
    """req/s against workers per configuration, each with its linear-scaling reference."""
    fig = _figure(8.0)
    ax = fig.add_subplot()
    counts = sorted({p.workers for line in lines.values() for p in line})
    for i, (label, line) in enumerate(lines.items()):
        color = PALETTE[i % len(PALETTE)]
        clean = [p for p in line if p.clean]
        ax.errorbar([p.workers for p in clean], [p.median for p in clean],
                    yerr=[[p.median - p.low for p in clean], [p.high - p.median for p in clean]],
                    color=color, marker="o", capsize=3, label=label)
        reference = linear_reference(line)
        ax.plot([w for w, _ in reference], [v for _, v in reference], color=color, linestyle=":", linewidth=1)
        for p in line:
            if not p.clean:  # at the foot: a cell that is not clean has no figure to place it at
                ax.plot([p.workers], [0], marker="x", color=NOT_CLEAN, markersize=10, mew=2, clip_on=False)
                ax.annotate(str(p.status), (p.workers, 0), textcoords="offset points", xytext=(4, 4),
                            color=NOT_CLEAN, fontsize=8)
    handles, _ = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], color="gray", linestyle=":", label="linear scaling from the fewest workers"))
    if any(not p.clean for line in lines.values() for p in line):
        handles.append(_no_figure())
    ax.legend(handles=handles, fontsize=8, loc="upper left")
    ax.set_xticks(counts)
    ax.set_xlabel("workers")
    ax.set_ylabel("requests per second (median, min–max)")
    ax.set_ylim(bottom=0)
    ax.set_title(f"Scaling with workers, {case_words(case)} — run {run}")
    ax.grid(alpha=0.3)
    return fig


def figures(records: list[CellRecord], env: dict) -> dict[str, Figure]:
    """Every non-empty chart of a run, by file name, in the order the report shows them."""
    run, named = env.get("run", "?"), roles(env)
    by_case = cases(records)
    drawn = {f"chart-reqs-{case_slug(case)}.png": reqs_figure(case, points, run, named.baseline)
             for case, points in by_case.items() if points}
    found = ratios(records, named.baseline)
    if found:
        drawn["chart-ratio.png"] = ratio_figure(found, run, named, headline.pair_words(latest(records), named))
    for case, points in by_case.items():
        lines = scaling_lines(points, named.baseline)
        if lines:
            drawn[f"chart-scaling-{case_slug(case)}.png"] = scaling_figure(case, lines, run)
    return {**drawn, **latency.figures(records, env)}


# -- files -----------------------------------------------------------------------------

def write_charts(run_dir: str | Path) -> list[Path]:
    """Draw the run's charts into its folder (replacing charts it no longer has); return their paths."""
    run_dir = Path(run_dir)
    records, env = load_run(run_dir)
    written = []
    for name, fig in figures(records, env).items():
        target = run_dir / name
        fig.savefig(target, format="png", metadata=PNG_METADATA)
        written.append(target)
    for stale in set(run_dir.glob("chart-*.png")) - set(written):
        stale.unlink()
    return written


_NAME = re.compile(r"chart-(?P<kind>reqs|scaling)-(?P<payload>\d+)-(?P<alive>keepalive|close)\.png")


def chart_title(name: str, pair: str) -> str:
    """Words for a chart file name made by :func:`write_charts` (``pair``: the ratio's, 'Twisted/Nginx')."""
    if name == "chart-ratio.png":
        return f"{pair} ratio at equal workers"
    match = _NAME.fullmatch(name)
    if not match:
        return Path(name).stem
    case = (int(match["payload"]), match["alive"] == "keepalive")
    kind = "req/s per configuration" if match["kind"] == "reqs" else "scaling with workers"
    return f"{kind}, {case_words(case)}"


def chart_links(names, pair: str) -> list[str]:
    """Markdown lines embedding the charts (names or paths, relative to report.md); none for none. The latency
    charts are embedded in their own section."""
    names = [Path(name).name for name in names if not Path(name).name.startswith(latency.CHART)]
    if not names:
        return []
    lines = ["## Charts", ""]
    for name in names:
        lines += [f"![{chart_title(name, pair)}]({name})", ""]
    return lines
