"""A cell that is not clean is never a figure: the one gate (summary.numbers), seen in every view.

The records are constructed as the runner writes a cell whose worker died after some clean
rounds: flagged, yet holding clean runs whose req/s a view could print.
"""
import statistics

import pytest
from support import constructed_record, load_host_part, several_hosts_record

from bench.envfile import roles
from bench.records import Status, append_record, read_records
from bench.report import charts, headline, summary
from bench.report import markdown as report
from bench.report.loadhosts import host_rows
from bench.report.markdown import headers

# The results table of constructed records: Twisted's variant in columns, Nginx the baseline.
HEADERS = headers(["interpreter", "mode", "resource"], "nginx")

TWISTED = "twisted/pypy/shared/fixed"


def measured(server, rates, status="ok", verdicts=(), cores=0.9):
    """A cell of one paired case: rounds numbered, each sampled and with its latency, as the runner keeps them."""
    record = constructed_record(server, 2, rates, status=status, verdicts=verdicts)
    for number, run in enumerate(record.measured):
        run.round = number
        run.sample = {"server_cores": cores, "server_rss_mb": 50.0, "loadgen_cores": 0.5}
        run.latency_us = {"p50": 1234.0 + number, "p90": 2345.0, "p99": 3456.0}
    record.group = "case"
    return record


def killed(status="flagged"):
    """Nginx clean; Twisted flagged (a worker died) after four clean rounds."""
    return (measured("nginx", [90210, 91340, 89870, 92450]),
            measured("twisted", [72922, 71310, 74480, 70150], status=status))


def figures_of(record):
    """Every req/s, req/s per core and kbyte/s figure the record's clean runs (or their medians) would print as."""
    series = [[run.req_per_s for run in record.numbers],
              [run.req_per_s / run.server_cores for run in record.numbers],
              [run.kbyte_per_s for run in record.numbers]]
    values = [value for values in series for value in values] + [statistics.median(values) for values in series]
    return {f"{value:,.0f}" for value in values if value >= 1000}


def result_cells(text, server):
    row = next(line for line in text.split("## Results")[1].splitlines() if line.startswith(f"| {server} "))
    return dict(zip(HEADERS, (part.strip() for part in row.strip().strip("|").split("|"))))


def test_the_gate_gives_a_cell_that_is_not_clean_no_runs_and_no_summary():
    for status in (Status.FLAGGED, Status.FAILED, Status.INTERRUPTED):
        record = constructed_record("twisted", 2, [72922, 71310], status=status.value)
        assert record.numbers  # clean rounds were measured ...
        assert summary.numbers(record) == [] and summary.req_per_s(record) is None  # ... and give no figure
        assert summary.per_core(record) is None and summary.kbyte_per_s(record) is None
    clean = constructed_record("twisted", 2, [72922, 71310])
    assert summary.req_per_s(clean).median == pytest.approx((72922 + 71310) / 2)


def test_kbytes_a_tool_did_not_count_are_a_dash_never_zero(tmp_path):
    nginx, twisted = killed("ok")
    for run in twisted.runs:
        run.kbyte_per_s = run.bytes_total = None  # h2load with Connection: close counts no byte
    append_record(tmp_path / "results.jsonl", twisted)
    (twisted,) = read_records(tmp_path / "results.jsonl")  # a kbyte/s of None is kept as such
    assert summary.kbyte_per_s(twisted) is None and summary.req_per_s(twisted) is not None
    cells = result_cells(report.render([nginx, twisted], {"run": "x"}), "twisted")
    assert cells["kbyte/s"] == "—" and cells["req/s (median)"] != "— ⚠"


def test_rounds_words_count_measured_rounds_and_say_how_many_were_clean():
    record = constructed_record("twisted", 2, [72922, 71310, 70000], status="flagged")
    record.measured[1].failed = 3
    assert summary.rounds_words(record) == "3 rounds measured, 2 clean"


@pytest.mark.parametrize("status", ["flagged", "failed", "interrupted"])
def test_the_results_table_shows_a_dash_and_the_status_never_a_rate(status):
    nginx, twisted = killed(status)
    text = report.render([nginx, twisted], {"run": "x"})
    cells = result_cells(text, "twisted")
    assert cells["req/s (median)"] == "— ⚠"
    assert [cells[key] for key in ("min–max", "CV", "req/s per core", "kbyte/s")] == ["", "", "", ""]
    assert cells["latency p50 / p90 / p99 (ms)"] == "—" and cells["vs nginx"] == "—"
    assert cells["notes"] == status
    assert not {figure for figure in figures_of(twisted) if figure in text}
    assert "(4 rounds measured, 4 clean: no figure shown)" in text.split("## Results")[0]
    assert result_cells(text, "nginx")["req/s (median)"] != "— ⚠"  # the clean side still shows


def test_nginx_shows_1_00_only_when_its_cell_is_clean():
    nginx, twisted = measured("nginx", [90210, 91340, 89870], status="flagged"), measured("twisted", [72922, 71310, 74480])
    text = report.render([nginx, twisted], {"run": "x"})
    assert result_cells(text, "nginx")["vs nginx"] == "—"
    assert result_cells(text, "nginx")["req/s (median)"] == "— ⚠"
    assert result_cells(text, "twisted")["vs nginx"] == "—"  # no ratio against a flagged side
    assert not {figure for figure in figures_of(nginx) if figure in text}
    clean = report.render([measured("nginx", [90210, 91340, 89870]), twisted], {"run": "x"})
    assert result_cells(clean, "nginx")["vs nginx"] == "1.00"


@pytest.mark.parametrize("verdict, prefix, suffix", [
    ("client-bound", "≤ ", ")"),  # Nginx held back by its load generator: the ratio is an upper bound
    ("machine-bound", "", ") †"),
])
def test_the_results_table_marks_a_ratio_whose_side_was_bound(verdict, prefix, suffix):
    twisted = measured("twisted", [72922, 71310, 74480])
    nginx = measured("nginx", [90210, 91340, 89870], verdicts=[verdict])
    ratio = result_cells(report.render([nginx, twisted], {"run": "x"}), "twisted")["vs nginx"]
    assert ratio.startswith(prefix) and ratio[len(prefix)].isdigit() and ratio.endswith(suffix)


def test_the_drift_table_has_no_row_for_a_cell_that_is_not_clean():
    nginx, twisted = killed()
    lines = headline.drift_section([nginx, twisted])
    rows = [line for line in "\n".join(lines).splitlines() if line.startswith("| `")]
    assert [row.split("|")[1].strip() for row in rows] == ["`nginx`"]
    assert not {figure for figure in figures_of(twisted) if figure in "\n".join(lines)}
    assert headline.drift_section([twisted]) == []


def split_record(status):
    """A cell measured by two load hosts over three rounds, with the given status."""
    hosts = ("root@10.200.5.3:2222", "root@10.200.5.4:2222")
    rounds = [[load_host_part(hosts[0], 41234 + i, p50=1111.0, cores=0.9, saturated=True),
               load_host_part(hosts[1], 31234 + i, p50=5555.0, cores=0.4)] for i in range(3)]
    return several_hosts_record("twisted", 1, rounds, status=status)


def test_the_load_hosts_table_shows_a_cell_that_is_not_clean_only_by_its_load():
    flagged = split_record("flagged")
    rows = host_rows(flagged)
    assert len(rows) == 2
    for row in rows:
        assert row[0] == f"`{TWISTED}` ⚠ flagged"
        assert row[5:7] == ["100", "1"]  # its connections and threads: the load it was given
        assert row[7:] == ["—"] * 6  # share, req/s, p50, p99, cores, saturated rounds
    clean = host_rows(split_record("ok"))
    assert clean[0][0] == f"`{TWISTED}`" and clean[0][8] == "41,235" and clean[0][7] != "—"


def test_the_charts_draw_no_bar_or_point_for_a_cell_that_is_not_clean():
    nginx, twisted = killed()
    one_worker = measured("twisted", [40111, 40222, 40333])
    one_worker.cell = constructed_record("twisted", 1, []).cell
    point = charts.point(twisted)
    assert (point.median, point.low, point.high, point.clean) == (None, None, None, False)
    ax = charts.reqs_figure((40, True), charts.cases([nginx, twisted])[(40, True)], "x", "nginx").axes[0]
    heights = [patch.get_height() for patch in ax.patches if patch.get_height() > 0]
    assert heights == [summary.req_per_s(nginx).median]  # Nginx's bar alone
    lines = charts.scaling_lines(charts.cases([one_worker, twisted])[(40, True)], "nginx")
    ax = charts.scaling_figure((40, True), lines, "x").axes[0]
    drawn = {float(y) for line in ax.lines for y in line.get_ydata()}
    assert not drawn & {run.req_per_s for run in twisted.numbers} and summary.req_per_s(twisted) is None
    assert (2, 0) in [(line.get_xdata()[0], line.get_ydata()[0]) for line in ax.lines if line.get_marker() == "x"]
    (ratio,) = charts.ratios([nginx, twisted], "nginx")
    assert ratio.value is None and ratio.why_not == "twisted flagged"


@pytest.mark.parametrize("nginx_verdicts, twisted_verdicts, bounds, direction, marks, hatch", [
    (["client-bound"], [], ("client-bound",), "≤ ", "", "//"),  # Nginx held back: the ratio is an upper bound
    ([], ["client-bound"], ("client-bound",), "≥ ", "", "//"),
    (["client-bound"], ["client-bound"], ("client-bound",), "", " *", "//"),  # both: no direction
    (["machine-bound"], ["machine-bound"], ("machine-bound",), "", " †", ".."),
])
def test_the_ratio_chart_marks_a_bound_ratio(nginx_verdicts, twisted_verdicts, bounds, direction, marks, hatch):
    nginx = measured("nginx", [90210, 91340, 89870], verdicts=nginx_verdicts)
    twisted = measured("twisted", [72922, 71310, 74480], verdicts=twisted_verdicts)
    clean = measured("twisted", [60123, 61234, 62345])
    clean.cell = constructed_record("twisted", 2, [], payload=41).cell
    (ratio,) = charts.ratios([nginx, twisted], "nginx")
    assert (ratio.bounds, ratio.direction, ratio.marks) == (bounds, direction, marks)
    assert ratio.words == f"{direction}{ratio.value:.2f}{marks}"
    clean_nginx = measured("nginx", [90210, 91340, 89870])
    clean_nginx.cell = constructed_record("nginx", 2, [], payload=41).cell
    found = charts.ratios([nginx, twisted, clean_nginx, clean], "nginx")
    ax = charts.ratio_figure(found, "x", roles({}), "Twisted/Nginx").axes[0]
    bars = {round(patch.get_height(), 6): patch for patch in ax.patches if patch.get_height() > 0}
    marked = bars[round(next(r for r in found if r.bounds).value, 6)]
    plain = bars[round(next(r for r in found if not r.bounds).value, 6)]
    assert marked.get_hatch() == hatch and marked.get_facecolor()[3] == 0  # hatched, unfilled
    assert plain.get_hatch() is None and plain.get_facecolor()[3] == 1
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert any((direction or marks).strip() in text.split(":")[0] and bounds[0].split("-")[0] in text for text in legend)
    assert ratio.words in [text.get_text() for text in ax.texts]
