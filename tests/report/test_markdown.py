"""The report is a pure function of results.jsonl and env.json."""
import math
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy import stats as scipy_stats
from support import PINNED_PLACEMENT, constructed_record, sampled_record, sampled_run

from bench import report as report_area
from bench.envfile import read_env, roles
from bench.measure.verdicts import Room, judged
from bench.records import Status, read_records
from bench.report import headline
from bench.report import markdown as report
from bench.report.markdown import headers
from bench.report.summary import req_per_s

NGINX = roles({})  # a run that did not name its baseline: Nginx

# The results table of constructed records: Twisted's variant in columns, Nginx the baseline.
HEADERS = headers(["interpreter", "mode", "resource"], "nginx")

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
    (version,) = host["servers"]["twisted"]  # a run of format 1: its Twisted environment read as the kind's fact
    assert version == "Twisted 26.10.0 on cpython" and f"| {version} | Twisted 26.10.0 on CPython 3.11.7 |" in text


def answer_rows(section):
    """The answer table's Twisted rows: name -> its cells (ratio, per core, for each case)."""
    lines = "\n".join(section).splitlines()
    return {line.split("|")[1].strip(): [part.strip() for part in line.split("|")[2:-1]]
            for line in lines if line.startswith("| `twisted")}


# -- the same marks, with verdicts derived from sampled runs rather than written in ------------------

def judged_case(nginx_runs, twisted_runs, room, workers=1):
    """Nginx and Twisted measured in rounds, each judged as the runner judges a measured cell."""
    for run in twisted_runs:
        run.req_per_s *= 0.8
    records = [sampled_record("nginx", nginx_runs, workers=workers), sampled_record("twisted", twisted_runs, workers=workers)]
    for record in records:
        record.verdicts = judged(record, room, cv_threshold=0.05)
    return records


def limit_column(records, label):
    lines = "\n".join(report.saturation_section(records, {})).splitlines()
    row = next(line for line in lines if line.startswith(f"| `{label}`"))
    return [part.strip() for part in row.split("|")[1:-1]]


def test_a_saturated_load_generator_beside_a_busy_nginx_marks_it_and_its_ratio():
    # The pinned run: Nginx at 0.95 of its CPU, weighttp at 0.97 of its own; Twisted had weighttp at 0.6.
    records = judged_case(
        [sampled_run(server=0.95, loadgen=0.97, busy=[0.98, 0.95], placement=PINNED_PLACEMENT) for _ in range(3)],
        [sampled_run(server=0.98, loadgen=0.6, busy=[0.61, 0.98], placement=PINNED_PLACEMENT) for _ in range(3)],
        Room(server_cpus=1, load_cpus=1, partitioned=True))
    nginx, twisted = limit_column(records, "nginx"), limit_column(records, "twisted/pypy/shared/fixed")
    assert nginx[-1].startswith("client-bound, both saturated") and nginx[-1].endswith("req/s is a lower bound")
    assert twisted[-1] == "server"
    assert nginx[8] == "1.93 of 2" and nginx[9] == "0.00"  # machine busy; other processes: none
    plain = [replace(record, verdicts=[]) for record in records]
    ratio = answer_rows(headline.answer_section(records, NGINX))["`twisted/pypy/shared/fixed`"][0]
    assert ratio != answer_rows(headline.answer_section(plain, NGINX))["`twisted/pypy/shared/fixed`"][0]
    assert ratio.startswith("≤ 0.80")  # the same ratio, an upper bound: Nginx was held back


def test_other_processes_filling_the_machine_show_and_make_it_machine_bound():
    # The newcomer run: Nginx 0.89, wrk 0.53, something else took the rest of the 2 CPUs.
    records = judged_case([sampled_run(server=0.89, loadgen=0.53, busy=2.0) for _ in range(3)],
                          [sampled_run(server=1.2, loadgen=0.4, busy=1.65) for _ in range(3)],
                          Room(server_cpus=2), workers=2)
    nginx, twisted = limit_column(records, "nginx"), limit_column(records, "twisted/pypy/shared/fixed")
    assert nginx[-1].startswith("machine-bound") and nginx[9] == "0.57"  # other processes: 2.0 - 0.89 - 0.53 - 0.01
    assert twisted[-1] == "server"
    assert "The harness itself used 0.010 cores on average" in "\n".join(report.saturation_section(records, {}))


KEYS = ["interpreter", "mode", "resource"]


def test_a_pipelined_cell_says_its_depth_and_that_its_answers_were_checked():
    record = sampled_record("twisted", [sampled_run(server=0.9, loadgen=0.5, busy=1.6)])
    assert "pipelined" not in report.result_row(record, None, KEYS, "nginx")[-1]
    record.cell = replace(record.cell, pipeline=16)
    record.verify = {"status": 200, "pipelined": {"depth": 16, "answers": 16}}
    assert report.result_row(record, None, KEYS, "nginx")[-1].startswith("16 pipelined, answers checked in order")


# -- a run of an older harness, and a baseline other than Nginx --------------------------------

FORMAT3 = Path(__file__).parent / "fixtures" / "format3"  # a real run, with the report its own harness wrote


def test_a_format_3_run_renders_as_the_harness_that_made_it_rendered_it():
    records, env = read_records(FORMAT3 / "results.jsonl"), read_env(FORMAT3 / "env.json")
    new = report.render(records, env, CHARTS).splitlines()
    old = (FORMAT3 / "report.md").read_text().splitlines()
    environment = old[old.index("## Environment") + 2:old.index("### Kernel settings (the seed's variables of interest)")]
    settings = old[old.index("## Settings") + 2:]
    # Read differently: the title names the kinds, Nginx has no resource (a Twisted variant), and each Twisted
    # environment's row names its version (the table's column widens with it); the settings name the baseline,
    # under the option table's labels; the load generator replaced is setup.loadgens' first, not "the seed's".
    replaced = "load generator, weighttp, was replaced by wrk debian/4.1.0-3+b2** on local"
    assert [line for line in old if line not in new and line not in environment and line not in settings] == [
        "# Twisted Web against Nginx — run fmt3-fixture",
        f"> ⚠ **The seed's {replaced}: wrk was chosen (--loadgen wrk or bench.loadgen). Its figures are not weighttp's.",
        next(line for line in old if line.startswith("| nginx ") and "| file " in line)]
    side = new[new.index("## Side by side"):new.index("## Results")]  # PyPy and CPython set side by side: new
    assert "### Twisted's interpreter: each against pypy" in side
    assert [line for line in new if line not in old and not line.startswith("|") and line not in side] == [
        "# Twisted against Nginx — run fmt3-fixture",
        f"> ⚠ **The preferred {replaced}: wrk was chosen (--loadgen wrk or bench.loadgen). Its figures are not "
        f"weighttp's."]
    answer = "\n".join(old).split("## Twisted against Nginx\n")[1].split("\n## ")[0]
    assert answer in "\n".join(new) and answer.count("| `twisted/") == 2  # the answer, byte for byte
    for row in ("| Twisted 26.4.0 on pypy     | Twisted 26.4.0 on PyPy 7.3.11 (Python 3.9.16)",
                "| baseline                            | nginx"):
        assert any(line.startswith(row) for line in new), row


def baseline_twisted(*records):
    """Constructed records of a run that compared every cell with Twisted."""
    env = {"run": "t", "kinds": {"nginx": "Nginx", "twisted": "Twisted Web"}, "settings": {"baseline": "twisted"}}
    for record in records:
        record.group = "case"
        for number, run in enumerate(record.measured):
            run.round = number
    return list(records), env


def test_a_run_whose_baseline_is_twisted_compares_nginx_with_it():
    records, env = baseline_twisted(
        *(sampled_record(server, [sampled_run(server=0.9, loadgen=0.5, busy=1.5) for _ in range(3)])
          for server in ("nginx", "twisted")))
    for run in records[1].measured:
        run.req_per_s /= 2
    text = report.render(records, env)
    assert text.startswith("# Nginx against Twisted Web — run t")
    assert "## Twisted against" not in text
    section = text.split("## Nginx against Twisted Web\n")[1].split("\n## ")[0]
    assert "Nginx's req/s divided by Twisted Web's" in section
    (row,) = [line for line in section.splitlines() if line.startswith("| `nginx`")]
    assert row.split("|")[2].strip().startswith("2.00")
    results = text.split("## Results")[1].split("\n## ")[0]
    columns = headers(["interpreter", "mode", "resource"], "twisted")
    cells = {line.split("|")[1].strip(): dict(zip(columns, (part.strip() for part in line.strip().strip("|").split("|"))))
             for line in results.splitlines() if line.startswith(("| nginx", "| twisted"))}
    assert cells["twisted"]["vs twisted"] == "1.00" and cells["nginx"]["vs twisted"].startswith("2.00")


def test_who_was_the_limit_names_a_saturated_worker():
    record = constructed_record("twisted", 2, [40_000.0, 41_000.0], verdicts=["a worker saturated", "machine-bound"])
    words = report.limit_words(record)
    assert words.startswith("a worker saturated: one server process was busy (80 % of a core) while the server as a")
    assert words.endswith("machine-bound: its CPUs were full, something else took what it could have used")
    assert report.limit_words(constructed_record("twisted", 2, [1.0])) == "server"
