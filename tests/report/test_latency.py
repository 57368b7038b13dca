"""Latency under load in the report: the knee table, the p99s at the slowest knee, every step, and the chart,
from constructed sweeps written to a run folder (the report reads nothing else)."""
import hashlib
from pathlib import Path

import pytest
from support import constructed_record, sweep_step, swept_record, write_run

from bench import report
from bench.envfile import read_env
from bench.records import read_records
from bench.knee import Rule
from bench.report import latency
from bench.report.charts import write_charts

NGINX_MAX, TWISTED_MAX = [80_000, 79_000, 81_000], [60_000, 61_000, 59_000]
RATES = [8000, 40_000, 60_000, 72_000, 80_000, 88_000]
ENV = {"run": "sweep", "settings": {"latency": {
    "grid": [0.1, 0.5, 1.0, 1.1], "step": 13, "connections": 200, "threads": 1,
    "knee": {"achieved": 0.95, "p99_factor": 10, "p99_ms": None},
    "loadgen": {"tool": "wrk2", "version": "wrk2 (wrk 4.0.0)", "path": "/opt/lab/bin/wrk2",
                "source": {"kind": "tarball", "file": "wrk2-44a94c17.tar.gz", "sha256": "40fb577303ae" + "0" * 52}}}}}


def nginx():
    p99 = {8000: 900, 40_000: 1100, 60_000: 1500, 72_000: 2400, 80_000: 7000, 88_000: 9000}
    return swept_record("nginx", NGINX_MAX, [
        *(sweep_step(rate, p99=p99[rate], round_number=index) for index, rate in enumerate(RATES[:5])),
        sweep_step(88_000, achieved=80_500, p99=900_000, round_number=5)])


def twisted(status="ok"):
    return swept_record("twisted", TWISTED_MAX, [
        sweep_step(8000, p99=2000), sweep_step(40_000, p99=4000), sweep_step(60_000, achieved=52_000, p99=300_000),
        sweep_step(72_000, achieved=55_000, p99=2_000_000, errored=12, socket_errors={"timeout": 12}),
        sweep_step(80_000, p99=1_000_000, saturated=True), sweep_step(88_000, p99=1_000_000, saturated=True)],
        status=status)


def rows(lines: list[str], heading: str) -> dict[str, list[str]]:
    """The rows of the table whose header starts with ``heading``, by their first cell."""
    text = "\n".join(lines)
    table = text[text.index(f"| {heading}"):].split("\n\n")[0].splitlines()[2:]
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in table]
    return {row[0]: row[1:] for row in cells}


def test_the_knees_and_the_p99s_at_the_slowest_knee():
    lines = latency.latency_section([nginx(), twisted()], ENV)
    text = "\n".join(lines)
    assert "## Latency under load" in text and "### 40 bytes, keep-alive, 2 workers" in text
    assert "![latency against offered rate, 40 bytes, keep-alive, 2 workers](chart-latency-40-keepalive-2w.png)" in text
    knees = rows(lines, "server   ")
    assert knees["`nginx`"] == ["80,000", "100%", "9.00"]  # 7 ms < 10 x 0.9 ms; at 88k it fell behind
    assert knees["`twisted/pypy/shared/fixed`"] == ["≥ 40,000", "67%", "20.00"]  # 60k fell behind; 80k saturated
    assert ("Swept by wrk2 (wrk 4.0.0) (tarball wrk2-44a94c17.tar.gz (sha256 40fb577303ae…)): 13 s a step, 200 "
            "connections on 1 thread(s)") in text
    assert "After the grid" not in text  # a run from before refining
    refined = {**ENV, "settings": {"latency": {**ENV["settings"]["latency"], "refine": 1}}}
    assert "After the grid, up to 1 rate(s) more, each halfway" in "\n".join(latency.latency_section(
        [nginx(), twisted()], refined))
    assert "At 40,000 req/s, the slowest server's knee" in text
    at_knee = rows(lines[lines.index("At 40,000 req/s, the slowest server's knee (corrected for coordinated omission):"):],
                   "server")
    assert at_knee == {"`nginx`": ["0.28", "1.10", "2.20", "1.00"],
                       "`twisted/pypy/shared/fixed`": ["1.00", "4.00", "8.00", "3.64"]}  # 4.0 / 1.1 ms


def test_every_step_with_its_verdict_and_who_was_at_the_limit():
    lines = latency.steps_table([nginx(), twisted()], Rule())[0].splitlines()
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]
    assert [(row[0], row[1]) for row in rows[:2]] == [("8,000", "`nginx`"), ("8,000", "`twisted/pypy/shared/fixed`")]
    by = {(row[0], row[1].strip("`").split("/")[0]): row for row in rows}
    assert by["60,000", "twisted"][2:] == ["52,000", "75.00 / 300 / 600", "150", "0", "0.80", "0.50", "—",
                                           "fell behind (87% of the rate)"]
    assert by["72,000", "twisted"][2:6] == ["—", "—", "—", "12"] and by["72,000", "twisted"][-1] == "errors"
    assert by["80,000", "twisted"][2:] == ["—", "—", "—", "0", "0.80", "0.95", "client-bound", "load generator saturated"]
    assert by["88,000", "nginx"][-1] == "fell behind (91% of the rate)"
    assert by["80,000", "nginx"][-1] == "sustained"


def test_a_rate_held_with_a_saturated_load_generator_counts_and_its_latency_is_an_upper_bound():
    # As measured on 2 cores: wrk2's one thread at 0.91 of a core, and Nginx still got 96 % of 40k at p99 3.9 ms.
    base = nginx()
    base.sweep = [step if step.offered_per_s != 40_000 else sweep_step(40_000, p99=1100, saturated=True, round_number=1)
                  for step in base.sweep]
    lines = latency.latency_section([base, twisted()], ENV)
    assert rows(lines, "server   ")["`nginx`"][0] == "80,000"
    at_knee = rows(lines[next(i for i, line in enumerate(lines) if line.startswith("At 40,000 req/s")):], "server")
    assert at_knee["`nginx`"] == ["≤ 0.28", "≤ 1.10", "≤ 2.20", "1.00"]
    assert "≤: its load generator saturated" in "\n".join(lines)
    steps = rows(latency.steps_table([base], Rule()), "offered")
    assert steps["40,000"][1:3] == ["40,000", "0.28 / 1.10 / 2.20"]
    assert steps["40,000"][-2:] == ["client-bound", "sustained (its load generator saturated: latency at most this)"]


def test_a_cell_that_is_not_clean_shows_no_step_and_no_knee():
    lines = latency.latency_section([nginx(), twisted(status="flagged")], ENV)
    assert rows(lines, "server   ")["`twisted/pypy/shared/fixed` ⚠"] == ["— (flagged)", "—", "—"]
    assert "No rate every server sustained: no p99s to compare." in lines
    assert "`twisted/pypy/shared/fixed` |" not in latency.steps_table([twisted(status="flagged")], Rule())[0]


def test_an_absolute_bound_from_the_run_s_settings_moves_the_knee():
    env = {"settings": {"latency": {"knee": {"p99_ms": 2.0}}}}
    lines = latency.latency_section([nginx()], env)
    assert "kept its p99 below 2 ms" in lines[2] and rows(lines, "server   ")["`nginx`"] == ["60,000", "75%", "2.00"]


def test_a_run_without_a_sweep_has_no_latency_section_or_chart(tmp_path):
    records = [constructed_record("nginx", 2, NGINX_MAX), constructed_record("twisted", 2, TWISTED_MAX)]
    assert latency.latency_section(records, ENV) == [] and latency.figures(records, ENV) == {}
    run = write_run(tmp_path / "run", records, ENV)
    assert "Latency under load" not in report.write(run).read_text()
    assert not list(run.glob("chart-latency-*"))


def test_the_report_embeds_the_chart_and_renders_again_byte_for_byte(tmp_path):
    run = write_run(tmp_path / "run", [nginx(), twisted()], ENV)
    text = report.write(run).read_text()
    chart = run / "chart-latency-40-keepalive-2w.png"
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "## Latency under load" in text
    assert text.count("chart-latency-40-keepalive-2w.png") == 1  # in its section, not again under Charts
    first = hashlib.sha256(chart.read_bytes()).hexdigest()
    assert report.write(run).read_text() == text
    assert hashlib.sha256(chart.read_bytes()).hexdigest() == first


@pytest.mark.parametrize("status", ["ok", "failed"])
def test_the_chart_draws_a_line_per_percentile_and_a_cross_per_step_without_figure(status):
    fig = latency.latency_figure((40, True, 2), [nginx(), twisted(status)], Rule(), "r")
    ax = fig.axes[0]
    crosses = [line for line in ax.lines if line.get_marker() == "x"]
    assert len(crosses) == (3 if status == "ok" else 0)  # twisted's errored step and its two saturated ones
    knees = [line for line in ax.lines if line.get_linestyle() == "-."]
    assert len(knees) == (2 if status == "ok" else 1)
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert "nginx (knee 80,000 req/s)" in labels
    assert ("twisted/pypy/shared/fixed (knee ≥ 40,000 req/s)" if status == "ok"
            else "twisted/pypy/shared/fixed (failed: no figure)") in labels
    assert ax.get_yscale() == "log"


def test_charts_include_the_latency_chart(tmp_path):
    run = write_run(tmp_path / "run", [nginx(), twisted()], ENV)
    assert "chart-latency-40-keepalive-2w.png" in [path.name for path in write_charts(run)]


def test_compare_sets_each_server_s_knee_in_b_against_a(tmp_path):
    better = twisted()
    better.sweep[2] = sweep_step(60_000, p99=5000)  # B's Twisted held 60k: its knee moves up a step
    a = write_run(tmp_path / "a", [nginx(), twisted()], ENV)
    b = write_run(tmp_path / "b", [nginx(), better], ENV)
    markdown = report.compare_runs(a, b, force=True)
    assert "## Knees, B against A" in markdown
    lines = markdown.splitlines()
    compared = rows(lines[lines.index("## Knees, B against A"):], "server")
    assert compared["`nginx`"] == ["40 bytes, keep-alive, 2 workers", "80,000", "80,000", "1.00", "1.00", "1.00"]
    # A compares p99s at Twisted's knee (40k: 4.0 / 1.1 ms), B at 60k (5.0 / 1.5 ms)
    assert compared["`twisted/pypy/shared/fixed`"] == ["40 bytes, keep-alive, 2 workers", "≥ 40,000", "≥ 60,000",
                                                        "1.50 (a bound: a load generator saturated)", "3.64", "3.33"]


def test_compare_without_sweeps_has_no_knee_section(tmp_path):
    records = [constructed_record("nginx", 2, NGINX_MAX), constructed_record("twisted", 2, TWISTED_MAX)]
    a, b = write_run(tmp_path / "a", records, ENV), write_run(tmp_path / "b", records, ENV)
    assert "Knees" not in report.compare_runs(a, b, force=True)


SWEEP = Path(__file__).parent / "fixtures" / "sweep"  # a real `inv bench --latency` on 2 cores, raw outputs dropped


def test_a_real_sweep_counts_the_rates_nginx_held_while_wrk2_saturated():
    records, env = read_records(SWEEP / "results.jsonl"), read_env(SWEEP / "env.json")
    lines = latency.latency_section(records, env)
    knees = rows(lines, "server   ")
    # Nginx held 40,788 and 61,182 req/s (96 % achieved, p99 under 4 ms) while wrk2's thread used 0.91 and 0.95 of
    # its core; it fell behind at 73,418. Not counting those steps made its knee "≥ 20,394", Twisted's own.
    assert knees["`nginx`"][0] == "61,182"
    assert knees["`twisted/pypy/shared/fixed/26.4.0`"][0] == "20,394"
    assert "\n".join(lines).count("sustained (its load generator saturated: latency at most this)") == 2



def test_a_step_whose_busiest_worker_saturated_says_so():
    slow = sweep_step(40_000, achieved=33_000, p99=900_000)
    slow.sample.update(worker_saturated=True, server_busy=False)
    assert latency.cpu_words(slow) == "a worker saturated"


def test_the_knee_table_names_a_lower_rate_not_held():
    base = nginx()
    base.sweep = [step if step.offered_per_s != 40_000 else sweep_step(40_000, p99=600_000, round_number=1)
                  for step in base.sweep]
    assert rows(latency.latency_section([base, twisted()], ENV), "server   ")["`nginx`"][0] == (
        "80,000 (not held at 40,000 below it)")
