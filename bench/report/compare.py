"""Two runs side by side: did the answer change, what changed around them, and which cells got faster.

First the headline: each cell's ratio to the baseline (Nginx, unless the runs chose another)
in run B against the same ratio in run A, as the ratio of the two (the difference of their
log ratios), with Welch's interval from each run's own rounds; "within noise" when it holds 1,
else "changed". Paired rounds cancel the machine's drift within a run, so this compares what
the lab measures.

Then cells match by id (the same settings), or, where one run's variant names what the
other's did not (a run from before Twisted versions were cells), by every setting both name.
A change in req/s counts as *significant*
when a test on the measured runs that are clean numbers (warm-ups excluded) gives p < 0.05
once the p-values of all the cells compared are adjusted together (Holm–Bonferroni), so
that comparing twenty cells does not find a "significant" change by chance alone.
Mann-Whitney U (two-sided) is used where it can reach that level after the adjustment,
else Welch's t-test: the smallest p the rank test can give is 2 / C(n_a + n_b, n_a)
(0.029 for 4 rounds against 4), and Holm multiplies the smallest p by the number of cells.
req/s across runs also carries the machine's drift between them, which the ratio does not.

Runs are comparable when their compatibility ids match: a hash of the settings that shape
one measurement and of the tool versions (pyperformance's idea). Host facts (CPU, kernel,
sysctls) are not in it: they are what one usually compares, and are listed instead.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

from scipy import stats as scipy_stats
from tabulate import tabulate

from bench import ratios
from bench.envfile import Roles, roles
from bench.errors import BenchError
from bench.records import Cell, CellRecord, Status, latest
from bench.stats import difference, interval

from . import headline, latency
from .summary import MARK, load_run, req_per_s, workers

ALPHA = 0.05
# Where the server listens, and how many repeats were taken and when they stopped, do not change what one repeat
# measures.
NOT_COMPATIBILITY = ("port", "repeats", "statistics")
# A live counter of open files, not a setting: it differs between any two captures.
VOLATILE = ("fs.file-nr",)
# When something happened (a run started, a manifest was written, a tool installed): it differs between any two runs.
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")


# -- compatibility (pure) --------------------------------------------------------------

def host_keys(env: dict) -> list[tuple[str, dict]]:
    """Each host of env.json under its role; a role held by several hosts (load hosts) numbers the
    later ones ("load", "load 2", ...) so none hides another, and one load host keeps its old key."""
    keyed, seen = [], {}
    for host in env.get("hosts", []):
        role = host.get("role", "?")
        seen[role] = seen.get(role, 0) + 1
        keyed.append((role if seen[role] == 1 else f"{role} {seen[role]}", host))
    return keyed


def compatibility(env: dict) -> dict:
    """What must be equal for two runs to be compared: measurement settings and tool versions."""
    settings = {k: v for k, v in env.get("settings", {}).items() if k not in NOT_COMPATIBILITY}
    tools = {}
    for key, host in host_keys(env):
        loadgen = host.get("loadgen") or {}
        tools[key] = {
            "servers": host.get("servers") or {},
            "loadgen": {"tool": loadgen.get("tool"), "version": loadgen.get("version")},
        }
    return {"settings": settings, "tools": tools}


def compatibility_id(env: dict) -> str:
    canonical = json.dumps(compatibility(env), sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def incompatibilities(env_a: dict, env_b: dict) -> list[str]:
    """The keys where two runs' compatibility data differ."""
    a, b = _flatten(compatibility(env_a)), _flatten(compatibility(env_b))
    return sorted(key for key in a.keys() | b.keys() if a.get(key) != b.get(key))


def check_compatible(env_a: dict, env_b: dict, force: bool) -> None:
    """Refuse runs whose settings or tool versions differ (or are unknown) unless forced."""
    if force:
        return
    for name, env in (("A", env_a), ("B", env_b)):
        if not env:
            raise BenchError(f"run {name} has no env.json, so its settings and tool versions are unknown: "
                             "pass --force to compare anyway")
    differing = incompatibilities(env_a, env_b)
    if differing:
        shown = ", ".join(differing[:4]) + (f" and {len(differing) - 4} more" if len(differing) > 4 else "")
        raise BenchError(f"the runs differ in settings or tool versions ({shown}): pass --force to compare anyway")


# -- environment differences (pure) ----------------------------------------------------

def _flatten(value, prefix: str = "") -> dict[str, str]:
    if isinstance(value, dict):
        flat = {}
        for key, inner in value.items():
            flat.update(_flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(value, list):
        return {prefix: json.dumps(value)}
    return {prefix: "—" if value is None else str(value)}


def environment_facts(env: dict) -> dict[str, str]:
    """Everything env.json says about the harness, the settings and each host, flattened."""
    facts = {"harness commit": "—" if env.get("git") is None else str(env["git"])}
    facts.update(_flatten(env.get("settings", {}), "settings"))
    for key, host in host_keys(env):
        facts.update(_flatten({k: v for k, v in host.items() if k != "role"}, key))
    return facts


def environment_differences(env_a: dict, env_b: dict) -> list[tuple[str, str, str]]:
    """(fact, value in A, value in B) for every fact that differs, volatile counters and timestamps left out."""
    a, b = environment_facts(env_a), environment_facts(env_b)

    def when(key: str) -> bool:
        return all(TIMESTAMP.match(facts[key]) for facts in (a, b) if key in facts)

    keys = sorted(key for key in a.keys() | b.keys()
                  if a.get(key) != b.get(key) and not any(volatile in key for volatile in VOLATILE) and not when(key))
    return [(key, a.get(key, "absent"), b.get(key, "absent")) for key in keys]


# -- the answer, B against A (pure) ----------------------------------------------------

def answer_row(key: tuple, label: str, a: tuple, b: tuple) -> list[str]:
    """One configuration and case: its ratio in A and in B (each (cell, baseline)), B's over A's with its
    interval, and whether that is within noise."""
    shown_a, shown_b = headline.clean_ratio(*a), headline.clean_ratio(*b)
    row = [f"`{label}`", headline.case_words(key)]
    row += [headline.ratio_words(*pair, shown) if shown else "—" for pair, shown in ((a, shown_a), (b, shown_b))]
    if shown_a is None or shown_b is None:
        return row + ["—", f"not compared: no clean ratio in {'A' if shown_a is None else 'B'}"]
    confidence = ratios.shown_confidence(*a, *b)
    change = interval(difference(ratios.estimate(*b), ratios.estimate(*a)), confidence)
    if change.low is None:
        return row + [f"{change.centre:.3f}", "cannot tell: a run has one round"]
    words = ("within noise" if change.low <= 1 <= change.high else
             f"changed: {'higher' if change.low > 1 else 'lower'} in B ({change.centre - 1:+.1%})")
    return row + [f"{change.centre:.3f} ({change.low:.3f}–{change.high:.3f})", words]


def answer_section(records_a: list[CellRecord], records_b: list[CellRecord], roles_a: Roles, roles_b: Roles) -> list[str]:
    """The headline ratios of both runs, B's against A's, per configuration and case."""
    if roles_a.baseline != roles_b.baseline:
        return ["## Against the baseline, B against A", "",
                f"Not compared: A compared every cell with {roles_a.shown}, B with {roles_b.shown}.", ""]
    baseline = roles_a.baseline
    a, b = latest(records_a), latest(records_b)
    bases_a, bases_b = headline.baselines(a, baseline), headline.baselines(b, baseline)
    rows, kinds = [], {}
    for mine, theirs in match_cells(a, b)[0]:
        key = headline.case_key(mine)
        if mine.cell.server != baseline and key in bases_a and key in bases_b:
            rows.append(answer_row(key, pair_label(mine, theirs), (mine, bases_a[key]), (theirs, bases_b[key])))
            kinds[roles_a.display(mine.cell.server)] = None
    if not rows:
        return []
    return [f"## {' and '.join(kinds)} against {roles_a.shown}, B against A", "",
            f"Each run's ratio to {roles_a.shown} as its report gives it (interval, rounds, marks), and B's ratio "
            "over A's with its 95 % interval: Welch's t on the difference of the two runs' log ratios, each from "
            "that run's own rounds (at the stricter confidence a run's stopping rule used, where it ended on its "
            "target). *Within noise* when the interval holds 1; *changed* when it does not.", "",
            tabulate(rows, ["configuration", "case", "A", "B", "B ÷ A", "verdict"], tablefmt="github",
                     disable_numparse=True), ""]


def pair_label(a: CellRecord, b: CellRecord) -> str:
    """A matched pair's configuration: its label, or both where B's variant names more (a Twisted version)."""
    return a.label if a.label == b.label else f"{a.label} (B: {b.label})"


# -- matching and statistics (pure) ----------------------------------------------------

def match_cells(records_a: list[CellRecord], records_b: list[CellRecord]) -> tuple[list[tuple[dict, dict]], list[CellRecord], list[CellRecord]]:
    """Cells in both runs (as pairs), only in A, only in B; the latest record of each cell.

    A cell matches the cell of the other run with its id; one without such a cell matches each cell of the
    other run's kind and settings whose variant agrees on every name both give (a cell of a run from before
    Twisted versions were variants matches that configuration at each version the other run measured)."""
    a = {r.id: r for r in latest(records_a)}
    b = {r.id: r for r in latest(records_b)}
    pairs = [(a[i], b[i]) for i in a if i in b]
    rest_a = [r for i, r in a.items() if i not in b]
    rest_b = [r for i, r in b.items() if i not in a]
    pairs += [(mine, theirs) for mine in rest_a for theirs in rest_b if alike(mine.cell, theirs.cell)]
    matched = {id(record) for pair in pairs for record in pair}
    return (sorted(pairs, key=lambda pair: (_order(pair[0]), pair[1].label)),
            sorted((r for r in rest_a if id(r) not in matched), key=_order),
            sorted((r for r in rest_b if id(r) not in matched), key=_order))


def alike(a: Cell, b: Cell) -> bool:
    """The same kind and settings, and variants that agree on every name both give, one giving fewer."""
    shared = a.variant.keys() & b.variant.keys()
    return (a.variant.keys() != b.variant.keys() and all(a.variant[key] == b.variant[key] for key in shared)
            and {**a.to_dict(), "variant": None} == {**b.to_dict(), "variant": None})


def _order(record: CellRecord):
    cell = record.cell
    return (not cell.keepalive, cell.payload, cell.server, record.label, cell.workers)


@dataclass(frozen=True)
class Significance:
    """Which test was run on two sets of repeats, and its two-sided p-value."""

    test: str | None
    p: float | None
    why_not: str = ""
    holm: float | None = None  # p adjusted for the other cells compared alongside (Holm–Bonferroni)

    @property
    def significant(self) -> bool:
        p = self.p if self.holm is None else self.holm
        return p is not None and p < ALPHA

    def words(self) -> str:
        if self.test is None:
            return f"n/a ({self.why_not})"
        if self.p is None:
            return f"n/a ({self.why_not}; {self.test})"
        verdict = "significant" if self.significant else "not significant"
        adjusted = f", Holm {self.holm:.3g}" if self.holm is not None else ""
        return f"{verdict} (p = {self.p:.3g}{adjusted}, {self.test})"


def holm(ps: list[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values, in the order given: many cells compared at once
    would otherwise find some "significant" change by chance alone."""
    adjusted, running = [0.0] * len(ps), 0.0
    for rank, index in enumerate(sorted(range(len(ps)), key=ps.__getitem__)):
        running = max(running, min(1.0, (len(ps) - rank) * ps[index]))
        adjusted[index] = running
    return adjusted


def significances(pairs: list[tuple[dict, dict]]) -> list[Significance | None]:
    """The test of each clean pair (None where a side is not clean), Holm-adjusted across them."""
    cells = sum(_comparable(a, b) for a, b in pairs)
    found = [significance(rates(a), rates(b), cells) if _comparable(a, b) else None for a, b in pairs]
    tested = [i for i, sig in enumerate(found) if sig is not None and sig.p is not None]
    for index, adjusted in zip(tested, holm([found[i].p for i in tested])):
        found[index] = replace(found[index], holm=adjusted)
    return found


def rank_test_can_reject(n_a: int, n_b: int, cells: int = 1) -> bool:
    """Whether Mann-Whitney U can reach p < ALPHA at all, once Holm has multiplied the smallest p by the number of
    cells compared: its smallest two-sided p is 2 / C(n_a + n_b, n_a)."""
    return cells * 2 / math.comb(n_a + n_b, n_a) < ALPHA


def significance(a: list[float], b: list[float], cells: int = 1) -> Significance:
    """Test whether two sets of repeats differ: Mann-Whitney U where it can answer among ``cells`` cells compared,
    else Welch's t, else nothing."""
    if min(len(a), len(b)) >= 3 and rank_test_can_reject(len(a), len(b), cells):
        test, run = "Mann-Whitney U", lambda: scipy_stats.mannwhitneyu(a, b, alternative="two-sided").pvalue
    elif min(len(a), len(b)) >= 2:
        test, run = "Welch's t", lambda: scipy_stats.ttest_ind(a, b, equal_var=False).pvalue
    else:
        return Significance(None, None, "too few repeats")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nearly equal values: scipy warns, p stays usable
        p = float(run())
    if math.isnan(p):
        return Significance(test, None, "no spread in either run")
    return Significance(test, p)


def rates(record: CellRecord) -> list[float]:
    return [float(run.req_per_s) for run in record.numbers]


# -- rendering (pure) ------------------------------------------------------------------

def _median(record: CellRecord) -> str:
    summary = req_per_s(record)
    if record.status is Status.FAILED or not summary:
        return f"{record.status} {MARK}"
    flag = f" {MARK}" if record.status is not Status.OK else ""
    notes = ", ".join([f"n={summary.n}", *record.verdicts])
    return f"{summary.median:,.0f} ({notes}){flag}"


def _comparable(a: CellRecord, b: CellRecord) -> bool:
    summary_a, summary_b = req_per_s(a), req_per_s(b)
    return a.status is b.status is Status.OK and bool(summary_a and summary_b and summary_a.median)


def cell_row(a: CellRecord, b: CellRecord, sig: Significance | None = None) -> list:
    """One matching cell: both medians, B's change against A, and whether it is significant."""
    cell = a.cell
    row = [pair_label(a, b), cell.payload, "yes" if cell.keepalive else "no", cell.workers, _median(a), _median(b)]
    if not _comparable(a, b):
        unclean = [f"{name} {r.status}" for name, r in (("A", a), ("B", b)) if r.status is not Status.OK]
        return row + ["—", f"not compared: {', '.join(unclean) or 'no measured repeats'}"]
    median_a, median_b = req_per_s(a).median, req_per_s(b).median
    sig = sig or significance(rates(a), rates(b))
    return row + [f"{(median_b - median_a) / median_a * 100:+.1f}%", sig.words()]


CELL_HEADERS = ["configuration", "payload", "keep-alive", "workers", "A req/s (median)", "B req/s (median)",
                "change", "significance"]


def _run_line(name: str, env: dict, fallback: str) -> str:
    started = f", started {env['started']}" if env.get("started") else ""
    commit = f", harness commit {env['git']}" if env.get("git") else ""
    return f"- {name}: `{env.get('run', fallback)}`{started}{commit}, compatibility id `{compatibility_id(env)}`"


def _only_lines(title: str, records: list[CellRecord]) -> list[str]:
    if not records:
        return []
    lines = [f"## {title}", ""]
    for r in records:
        cell = r.cell
        lines.append(f"- `{r.label}` ({cell.payload} bytes, "
                     f"{'keep-alive' if cell.keepalive else 'no keep-alive'}, {workers(cell.workers)}): {_median(r)}")
    return lines + [""]


def render_comparison(records_a: list[CellRecord], env_a: dict, records_b: list[CellRecord], env_b: dict,
                      names: tuple[str, str] = ("A", "B")) -> str:
    """The comparison as markdown: environment differences, then matching cells, then the rest."""
    lines = ["# Run B against run A", "", _run_line("A", env_a, names[0]), _run_line("B", env_b, names[1]), ""]
    lines += answer_section(records_a, records_b, roles(env_a), roles(env_b))
    lines += latency.knees_compared(records_a, env_a, records_b, env_b)
    if not env_a or not env_b:
        lines += [f"{MARK} Compared with --force: an env.json is missing, so the runs' settings "
                  "and tool versions are unknown.", ""]
    elif differing := incompatibilities(env_a, env_b):
        lines += [f"{MARK} Compared with --force: the runs' settings or tool versions differ "
                  f"({', '.join(differing)}), so a change may not come from what you changed.", ""]
    differences = environment_differences(env_a, env_b)
    lines += ["## Environment differences", ""]
    if differences:
        lines += [tabulate([[f"`{key}`", a, b] for key, a, b in differences], ["", "A", "B"],
                           tablefmt="github", disable_numparse=True), ""]
    else:
        lines += ["None: same hosts, tool versions, sysctls and settings.", ""]
    pairs, only_a, only_b = match_cells(records_a, records_b)
    lines += ["## Matching cells", ""]
    if pairs:
        rows = [cell_row(a, b, sig) for (a, b), sig in zip(pairs, significances(pairs))]
        lines += [f"req/s is the median of the measured repeats (n of them, warm-ups excluded); change is "
                  f"(B − A) / A; significant means p < {ALPHA} on the repeats once adjusted (Holm) for the "
                  f"{len(pairs)} cells compared (Mann-Whitney U where it can get there, else Welch's t). Unlike "
                  f"the ratio above, req/s across runs also carries the machine's drift between them. {MARK} marks "
                  "a cell that is not a clean number.", "",
                  tabulate(rows, CELL_HEADERS, tablefmt="github", disable_numparse=True), ""]
    else:
        lines += ["None: the runs measured no cell with the same settings.", ""]
    lines += _only_lines("Only in A", only_a) + _only_lines("Only in B", only_b)
    return "\n".join(lines).rstrip() + "\n"


# -- files -----------------------------------------------------------------------------

def compare_runs(a_dir: str | Path, b_dir: str | Path, force: bool = False) -> str:
    """Compare two run folders; BenchError when they are incompatible and not forced."""
    loaded = []
    for run_dir in (Path(a_dir), Path(b_dir)):
        loaded.append(load_run(run_dir))
    (records_a, env_a), (records_b, env_b) = loaded
    check_compatible(env_a, env_b, force)
    return render_comparison(records_a, env_a, records_b, env_b, names=(Path(a_dir).name, Path(b_dir).name))
