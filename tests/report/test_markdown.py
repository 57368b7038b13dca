"""The report is a pure function of results.jsonl and env.json."""
import math
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy import stats as scipy_stats

from bench import report as report_area
from bench.records import Status, read_env, read_records
from bench.report import markdown as report
from bench.report.markdown import HEADERS
from bench.report.summary import req_per_s

FIXTURE = Path(__file__).parent / "fixtures" / "report"
CHARTS = ["chart-reqs-40-keepalive.png", "chart-ratio.png"]


def fixture():
    return read_records(FIXTURE / "results.jsonl"), read_env(FIXTURE / "env.json")


def test_render_matches_the_checked_in_report():
    records, env = fixture()
    assert report.render(records, env, CHARTS) == (FIXTURE / "report.md").read_text()


def test_flagged_and_failed_cells_are_never_clean_numbers():
    text = (FIXTURE / "report.md").read_text()
    results = text.split("## Results")[1].split("## Scaling")[0]
    flagged = next(line for line in results.splitlines() if "flagged" in line and line.startswith("| twisted"))
    cells = [part.strip() for part in flagged.split("|")]
    assert cells[HEADERS.index("req/s (median)") + 1] == "— ⚠"  # every run had failed requests: no number
    assert cells[HEADERS.index("failed") + 1] == "24244"  # ... but its failures are shown
    assert cells[HEADERS.index("vs nginx") + 1] == "—"  # and no ratio
    failed = next(line for line in results.splitlines() if line.rstrip(" |").endswith("failed"))
    assert failed.startswith("| nginx") and "— ⚠" in failed
    assert "Cells that are not clean numbers" in text


def test_the_ratio_is_welchs_on_the_logs_and_scaling_comes_from_the_medians():
    records, env = fixture()
    runs = {(r.label, r.cell.workers, r.cell.payload): [run.req_per_s for run in r.numbers] for r in records}
    mine, base = np.log(runs[("twisted/cpython/shared/fixed", 2, 40)]), np.log(runs[("nginx", 2, 40)])
    low, high = scipy_stats.ttest_ind(mine, base, equal_var=False).confidence_interval(0.95)
    expected = f"{math.exp(mine.mean() - base.mean()):.2f} ({math.exp(low):.2f}–{math.exp(high):.2f})"
    text = report.render(records, env)
    answer = text.split("## Twisted against Nginx")[1].split("\n## ")[0]
    row = next(line for line in answer.splitlines() if line.startswith("| `twisted/cpython/shared/fixed` ×2"))
    assert [part.strip() for part in row.split("|")][2] == f"{expected} n={min(len(mine), len(base))}"
    results = text.split("## Results")[1].split("## Scaling")[0]
    twisted = next(line for line in results.splitlines() if line.startswith("| twisted") and "| 2 " in line
                   and "| 12,560 " in line)
    assert [part.strip() for part in twisted.split("|")][HEADERS.index("vs nginx") + 1] == expected
    by_key = {(r.label, r.cell.workers, r.cell.payload): req_per_s(r) for r in records}
    one, two = by_key[("twisted/cpython/shared/fixed", 1, 40)].median, by_key[("twisted/cpython/shared/fixed", 2, 40)].median
    assert f"({two / (2 * one):.0%})" in text.split("## Scaling")[1]


def test_the_last_record_of_a_cell_wins():
    records, env = fixture()
    again = replace(records[0], status=Status.FAILED, runs=[], reasons=["measured again and failed"])
    text = report.render(records + [again], env)
    assert "measured again and failed" in text


def test_write_renders_charts_and_the_report_from_the_files(tmp_path):
    run = tmp_path / "golden"
    shutil.copytree(FIXTURE, run)
    (run / "report.md").unlink()
    target = report_area.write(run)
    text = target.read_text()
    charts = sorted(p.name for p in run.glob("chart-*.png"))
    assert charts and all(f"]({name})" in text for name in charts)
    first = text
    report_area.write(run)
    assert target.read_text() == first


def test_environment_lists_each_host_with_its_tools_and_sysctls():
    records, env = fixture()
    text = report.render(records, env)
    host = env["hosts"][0]
    assert host["cpu_model"] in text and host["kernel"] in text
    assert "`net.core.somaxconn`" in text
    assert f"Twisted {host['pythons']['cpython']['twisted']}" in text
