"""Comparing runs: on two real small runs, and on constructed result sets with known answers."""
import copy
import json
import re
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from invoke import Config, Context, Exit
from scipy import stats as scipy_stats
from support import TINY, bench_run, constructed_record, write_run

from bench.envfile import read_env
from bench.errors import BenchError
from bench.records import Status, read_records
from bench.report import compare
from bench.tasks.compare import compare as compare_task


@pytest.fixture(scope="module")
def real_runs(tmp_path_factory):
    """Two real runs, 4 repeats a cell; B also measures 2 workers."""
    reports = tmp_path_factory.mktemp("reports")
    return (bench_run(reports, "before", workers=(1,), repeats=4),
            bench_run(reports, "after", workers=(1, 2), repeats=4))


def table_rows(markdown: str, heading: str) -> list[list[str]]:
    section = markdown.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return [[cell.strip() for cell in line.strip("|").split("|")]
            for line in section.splitlines() if line.startswith("|")][2:]


def test_two_real_runs_match_their_cells_and_test_each_change(real_runs):
    before, after = real_runs
    markdown = compare.compare_runs(before, after)
    rows = table_rows(markdown, "Matching cells")
    # CPython's newest Twisted set up here (or this harness's own)
    (twisted,) = {r.label for r in read_records(before / "results.jsonl") if r.cell.server == "twisted"}
    assert twisted.startswith("twisted/cpython/shared/fixed/")
    assert [(row[0], row[3]) for row in rows] == [("nginx", "1"), (twisted, "1")]
    for row in rows:
        a, b = (float(value.split(" ")[0].replace(",", "")) for value in row[4:6])
        # the change is computed from the unrounded medians, the columns show them rounded
        assert abs(float(row[6].rstrip("%")) - (b - a) / a * 100) <= 0.1
        # 4 rounds against 4 in 2 cells: the rank test's smallest p (0.029) is 0.057 after Holm
        assert "Welch's t" in row[7] and " (p = " in row[7]
    only_b = markdown.split("## Only in B\n", 1)[1]
    assert "`nginx` (40 bytes, keep-alive, 2 workers)" in only_b
    assert f"`{twisted}` (40 bytes, keep-alive, 2 workers)" in only_b
    assert "## Only in A" not in markdown
    assert [row[0] for row in table_rows(markdown, "Environment differences")] == ["`settings.port`"]
    (answer,) = table_rows(markdown, "Twisted against Nginx, B against A")
    assert answer[:2] == [f"`{twisted}`", "keep-alive 40 B ×1"]
    assert answer[5] == "within noise" or answer[5].startswith("changed: ")
    assert markdown.index("## Twisted against Nginx, B against A") < markdown.index("## Matching cells")


def test_inv_compare_finds_runs_by_name_prints_and_writes_the_comparison(real_runs, tmp_path, capsys):
    before, after = real_runs
    context = Context(Config(overrides={"bench": {"reports": str(before.parent)}}))
    output = tmp_path / "compare.md"
    compare_task(context, "before", "after", output=str(output))
    printed = capsys.readouterr().out
    assert printed == output.read_text() == compare.compare_runs(before, after)


@pytest.mark.parametrize("where, says", [
    ("", r"^error: --output .+ is a folder: name a file in it, e\.g\. .+/compare\.md$"),
    ("missing/compare.md", r"^error: --output .+missing/compare\.md: its folder .+missing does not exist; create it"),
])
def test_inv_compare_refuses_an_output_it_cannot_write_before_comparing(real_runs, tmp_path, capsys, where, says):
    before, _ = real_runs
    context = Context(Config(overrides={"bench": {"reports": str(before.parent)}}))
    with pytest.raises(Exit) as refused:
        compare_task(context, "before", "after", output=str(tmp_path / where))
    assert refused.value.code == 1 and re.match(says, refused.value.message)
    assert capsys.readouterr().out == ""  # refused before anything was compared or printed


def test_inv_compare_refuses_incompatible_runs_in_one_line(real_runs, tmp_path):
    before, after = real_runs
    changed = tmp_path / "changed"
    changed.mkdir()
    (changed / "results.jsonl").write_bytes((after / "results.jsonl").read_bytes())
    env = json.loads((after / "env.json").read_text())
    env["settings"]["load"] = {"keepalive": {"duration": 5, "concurrency": 100, "threads": 2}}
    (changed / "env.json").write_text(json.dumps(env))
    context = Context(Config(overrides={"bench": {"reports": str(before.parent)}}))
    with pytest.raises(Exit) as refused:
        compare_task(context, str(before), str(changed))
    assert refused.value.code == 1
    assert "settings.load" in str(refused.value.message) and "--force" in str(refused.value.message)
    assert "\n" not in str(refused.value.message)
    compare_task(context, str(before), str(changed), force=True)


# -- constructed result sets -----------------------------------------------------------

def record(rates, server="twisted", workers=1, **kw):
    return constructed_record(server, workers, rates, **kw)




ENV = {
    "run": "a", "started": "2026-11-26T09:00:00Z", "git": "abc1234",
    "settings": {"profile": "default", "load": TINY, "repeats": 5, "loadgen": "wrk", "port": 8080,
                 "backlog": 8192, "server_log": False, "baseline": "nginx"},
    "hosts": [{"name": "local", "role": "server+load", "cpu_model": "AMD EPYC", "cpus": 2, "kernel": "Linux 6.1",
               "sysctl": {"net.core.somaxconn": "4096", "fs.file-nr": "1024 0 100"},
               "servers": {"nginx": {"nginx": "1.22.1"},
                           "twisted": {"Twisted 26.4.0 on pypy": "Twisted 26.4.0 on PyPy 7.3.11 (Python 3.9.16)"}},
               "loadgen": {"tool": "wrk", "path": "/usr/bin/wrk", "version": "wrk 4.1.0"}}],
}


def env_with(**changes):
    env = copy.deepcopy(ENV)
    for path, value in changes.items():
        *parents, key = path.split("__")
        target = env
        for parent in parents:
            target = target[int(parent)] if isinstance(target, list) else target[parent]
        target[key] = value
    return env



@pytest.mark.parametrize("a, b, test, significant", [
    ([100, 102, 98, 101, 99], [150, 149, 152, 148, 151], "Mann-Whitney U", True),
    ([100, 102, 98, 101, 99], [101, 99, 100, 98, 102], "Mann-Whitney U", False),
    ([100, 101, 99], [150, 151, 149], "Welch's t", True),  # 3 against 3: the rank test cannot reach p < 0.05
    ([100, 110, 90], [105, 95, 100], "Welch's t", False),
    ([100, 101], [150, 151], "Welch's t", True),
    ([100], [150, 151, 149], None, False),
])
def test_significance_picks_a_test_that_can_answer(a, b, test, significant):
    result = compare.significance(a, b)
    assert result.test == test
    assert result.significant is significant
    assert ("n/a (too few repeats)" == result.words()) is (test is None)


def test_equal_repeats_without_spread_have_no_p_value():
    assert compare.significance([100, 100], [100, 100]).words() == "n/a (no spread in either run; Welch's t)"


def test_the_rank_test_is_used_only_where_it_can_reject():
    assert not compare.rank_test_can_reject(3, 3)
    assert not compare.rank_test_can_reject(3, 4)
    assert compare.rank_test_can_reject(3, 5)
    assert compare.rank_test_can_reject(4, 4)
    # ... but not once Holm has multiplied its smallest p (2/70) by the two cells compared
    assert not compare.rank_test_can_reject(4, 4, cells=2)
    assert compare.rank_test_can_reject(5, 5, cells=2)
    assert compare.significance([100, 102, 98, 101], [150, 149, 152, 148], cells=2).test == "Welch's t"
    assert compare.significance([100, 102, 98, 101], [150, 149, 152, 148]).test == "Mann-Whitney U"


def test_holm_adjusts_p_values_for_the_cells_compared_together():
    assert compare.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert compare.holm([0.5]) == [0.5]
    assert compare.holm([0.2, 0.6]) == pytest.approx([0.4, 0.6])
    # a change with p = 0.03 alone is significant; among five cells it is not
    assert compare.Significance("Welch's t", 0.03).significant
    assert not compare.Significance("Welch's t", 0.03, holm=0.15).significant


def test_a_clearly_faster_run_is_significant_and_an_equal_one_is_not(tmp_path):
    base = [100, 102, 98, 101, 99]
    a = write_run(tmp_path / "a", [record(base), record(base, server="nginx")], ENV)
    b = write_run(tmp_path / "b", [record([150, 149, 152, 148, 151]), record([101, 99, 100, 98, 102], server="nginx")],
                  env_with(run="b"))
    rows = {row[0]: row for row in table_rows(compare.compare_runs(a, b), "Matching cells")}
    assert rows["twisted/pypy/shared/fixed"][6] == "+50.0%"
    assert rows["twisted/pypy/shared/fixed"][7].startswith("significant (p = 0.00794, Holm 0.0159, Mann-Whitney U)")
    assert rows["nginx"][6] == "+0.0%"
    assert rows["nginx"][7].startswith("not significant (p = ")


def test_the_last_record_of_a_cell_wins_and_unclean_cells_are_not_compared(tmp_path):
    a = write_run(tmp_path / "a", [record([1, 2, 3]), record([100, 101, 99]), record([50, 51, 52], server="nginx")], ENV)
    b = write_run(tmp_path / "b", [record([110, 111, 109], verdicts=["noisy"]),
                                   record([500, 510, 505], server="nginx", status="flagged")], ENV)
    rows = {row[0]: row for row in table_rows(compare.compare_runs(a, b), "Matching cells")}
    assert rows["twisted/pypy/shared/fixed"][4:7] == ["100 (n=3)", "110 (n=3, noisy)", "+10.0%"]
    assert rows["nginx"][5:] == ["flagged ⚠", "—", "not compared: B flagged"]  # a flagged cell is never a figure


def test_cells_in_one_run_only_are_listed_apart(tmp_path):
    a = write_run(tmp_path / "a", [record([100, 101]), record([100, 101], workers=2)], ENV)
    b = write_run(tmp_path / "b", [record([100, 101]), record([100, 101], payload=10000)], ENV)
    markdown = compare.compare_runs(a, b)
    assert len(table_rows(markdown, "Matching cells")) == 1
    assert "## Only in A\n\n- `twisted/pypy/shared/fixed` (40 bytes, keep-alive, 2 workers): 100 (n=2)" in markdown
    assert "## Only in B\n\n- `twisted/pypy/shared/fixed` (10000 bytes, keep-alive, 1 worker)" in markdown


@pytest.mark.parametrize("changes, differing", [
    ({"settings__load": {"keepalive": {"duration": 9}}}, "settings.load.close"),
    ({"settings__loadgen": "weighttp"}, "settings.loadgen"),
    ({"hosts__0__loadgen": {"tool": "wrk", "version": "wrk 4.2.0"}}, "tools.server+load.loadgen.version"),
    ({"hosts__0__servers__nginx": {"nginx": "1.27.0"}}, "tools.server+load.servers.nginx.nginx"),
    ({"hosts__0__servers__twisted": {"Twisted 26.4.0 on pypy": "Twisted 26.4.0 on PyPy 7.3.17 (Python 3.10.14)"}},
     "tools.server+load.servers.twisted.Twisted 26.4.0 on pypy"),
])
def test_runs_with_other_settings_or_tool_versions_are_refused_unless_forced(tmp_path, changes, differing):
    a = write_run(tmp_path / "a", [record([100, 101])], ENV)
    b = write_run(tmp_path / "b", [record([100, 101])], env_with(**changes))
    assert compare.compatibility_id(ENV) != compare.compatibility_id(env_with(**changes))
    with pytest.raises(BenchError, match=r"differ in settings or tool versions \(.*" + differing.replace("+", r"\+")
                       + r".*\): pass --force to compare anyway$"):
        compare.compare_runs(a, b)
    forced = compare.compare_runs(a, b, force=True)
    assert "⚠ Compared with --force" in forced and differing in forced
    assert len(table_rows(forced, "Matching cells")) == 1


def test_host_facts_port_repeats_and_statistics_leave_runs_comparable_and_are_listed(tmp_path):
    other = env_with(run="b", git="def5678", settings__port=9090, settings__repeats=3,
                     settings__statistics={"max_seconds": 50, "min_rounds": 6}, hosts__0__kernel="Linux 6.12",
                     hosts__0__sysctl={"net.core.somaxconn": "65535", "fs.file-nr": "2048 0 100"})
    assert compare.compatibility_id(other) == compare.compatibility_id(ENV)
    a = write_run(tmp_path / "a", [record([100, 101])], ENV)
    b = write_run(tmp_path / "b", [record([100, 101])], other)
    markdown = compare.compare_runs(a, b)
    assert "--force" not in markdown
    assert table_rows(markdown, "Environment differences") == [
        ["`harness commit`", "abc1234", "def5678"],
        ["`server+load.kernel`", "Linux 6.1", "Linux 6.12"],
        ["`server+load.sysctl.net.core.somaxconn`", "4096", "65535"],
        ["`settings.port`", "8080", "9090"],
        ["`settings.repeats`", "5", "3"],
        ["`settings.statistics.max_seconds`", "absent", "50"],
        ["`settings.statistics.min_rounds`", "absent", "6"],
    ]


def test_a_run_without_env_json_or_results_is_refused(tmp_path):
    a = write_run(tmp_path / "a", [record([100, 101])], ENV)
    b = write_run(tmp_path / "b", [record([100, 101])], ENV)
    (b / "env.json").unlink()
    with pytest.raises(BenchError, match="run B has no env.json.*pass --force"):
        compare.compare_runs(a, b)
    assert "an env.json is missing" in compare.compare_runs(a, b, force=True)
    with pytest.raises(BenchError, match="has no results.jsonl: give a run folder"):
        compare.compare_runs(a, tmp_path / "nowhere")


# -- the answer, B against A -------------------------------------------------------------

def paired_case(twisted_rates, nginx_rates, stopping=None):
    records = [record(twisted_rates), record(nginx_rates, server="nginx")]
    for each in records:
        each.group, each.stopping = "case", stopping
        for number, run in enumerate(each.measured):
            run.round = number
    return records


NGINX = [100.0, 120.0, 90.0, 110.0, 105.0, 95.0]
A = [60.0, 73.0, 53.0, 67.0, 62.0, 58.0]


@pytest.mark.parametrize("b, verdict", [
    ([61.0, 71.0, 54.0, 66.0, 63.0, 57.0], "within noise"),
    ([70.0, 85.0, 62.0, 78.0, 74.0, 66.0], "changed: higher in B"),
    ([50.0, 61.0, 45.0, 55.0, 52.0, 47.0], "changed: lower in B"),
])
def test_the_headline_ratios_are_compared_first_with_welchs_interval(tmp_path, b, verdict):
    first = write_run(tmp_path / "a", paired_case(A, NGINX), ENV)
    second = write_run(tmp_path / "b", paired_case(b, NGINX), env_with(run="b"))
    markdown = compare.compare_runs(first, second)
    (row,) = table_rows(markdown, "Twisted against Nginx, B against A")
    logs_a, logs_b = np.log(np.array(A) / NGINX), np.log(np.array(b) / NGINX)
    low, high = scipy_stats.ttest_ind(logs_b, logs_a, equal_var=False).confidence_interval(0.95)
    centre = math.exp(logs_b.mean() - logs_a.mean())
    assert row[4] == f"{centre:.3f} ({math.exp(low):.3f}–{math.exp(high):.3f})"
    assert row[5].startswith(verdict)
    assert row[2].endswith(" n=6") and row[3].endswith(" n=6")


def test_a_ratio_without_a_clean_side_or_with_one_round_is_not_compared(tmp_path):
    flagged = paired_case(A, NGINX)
    flagged[1].status = Status.FLAGGED
    first = write_run(tmp_path / "a", paired_case(A, NGINX), ENV)
    (row,) = table_rows(compare.compare_runs(first, write_run(tmp_path / "b", flagged, ENV)),
                        "Twisted against Nginx, B against A")
    assert row[3:] == ["—", "—", "not compared: no clean ratio in B"]
    single = write_run(tmp_path / "c", paired_case(A[:1], NGINX[:1]), ENV)
    (row,) = table_rows(compare.compare_runs(first, single), "Twisted against Nginx, B against A")
    assert row[5] == "cannot tell: a run has one round"


def test_timestamps_are_no_environment_difference(tmp_path):
    stamped = copy.deepcopy(ENV)
    stamped["hosts"][0]["manifest"] = {"written": "2026-11-26T09:00:00Z", "tools": {"wrk": {"installed": "2026-11-26T08:59:01Z"}}}
    later = copy.deepcopy(stamped)
    later.update(run="b", started="2026-11-27T10:00:00Z")
    later["hosts"][0]["manifest"] = {"written": "2026-11-27T10:00:00Z", "tools": {"wrk": {"installed": "2026-11-27T09:59:01Z"}}}
    later["hosts"][0]["kernel"] = "Linux 6.12"
    assert [row[0] for row in compare.environment_differences(stamped, later)] == ["server+load.kernel"]



# -- a run of an older harness against a new one, and a baseline other than Nginx ----------------

FORMAT3 = Path(__file__).parent / "fixtures" / "format3"


def as_format_4(tmp_path):
    """The format-3 fixture's run as today's harness writes it: each Twisted cell with its Twisted version."""
    records = read_records(FORMAT3 / "results.jsonl")
    env = read_env(FORMAT3 / "env.json")
    versions = {row.split()[-1]: row.split()[1] for row in env["hosts"][0]["servers"]["twisted"]}  # pypy -> 26.4.0
    for record in records:
        if record.cell.server == "twisted":
            variant = {**record.cell.variant, "twisted": versions[record.cell.variant["interpreter"]]}
            record.cell = replace(record.cell, variant=variant)
    return write_run(tmp_path / "now", records, {**env, "run": "now"})


def test_a_format_3_run_matches_a_new_runs_cells_and_ratios(tmp_path):
    new = as_format_4(tmp_path)
    assert json.loads((new / "results.jsonl").read_text().splitlines()[0])["format"] == 4
    markdown = compare.compare_runs(FORMAT3, new)  # comparable: the same tools and settings, read alike
    rows = table_rows(markdown, "Matching cells")
    assert [row[0] for row in rows] == ["nginx", "twisted/cpython/shared/fixed (B: twisted/cpython/shared/fixed/26.10.0)",
                                        "twisted/pypy/shared/fixed (B: twisted/pypy/shared/fixed/26.4.0)"]
    assert all(row[6] == "+0.0%" for row in rows)
    answer = table_rows(markdown, "Twisted against Nginx, B against A")
    assert [row[0] for row in answer] == ["`twisted/cpython/shared/fixed (B: twisted/cpython/shared/fixed/26.10.0)`",
                                          "`twisted/pypy/shared/fixed (B: twisted/pypy/shared/fixed/26.4.0)`"]
    assert all(row[2] == row[3] and row[4].startswith("1.000") for row in answer)
    assert "## Only in" not in markdown and "None: same hosts" in markdown


def test_an_old_cell_matches_each_twisted_version_of_a_new_run():
    old = constructed_record("twisted", 1, [100, 101])
    new = [constructed_record("twisted", 1, [100, 101], variant={**old.cell.variant, "twisted": version})
           for version in ("22.10.0", "26.4.0")]
    other = constructed_record("twisted", 1, [100, 101], variant={**old.cell.variant, "mode": "reuseport",
                                                                   "twisted": "26.4.0"})
    pairs, only_a, only_b = compare.match_cells([old], [*new, other])
    assert [(a.label, b.label) for a, b in pairs] == [(old.label, f"{old.label}/{version}")
                                                      for version in ("22.10.0", "26.4.0")]
    assert only_a == [] and only_b == [other]


def test_runs_whose_baseline_is_twisted_compare_nginx_with_it(tmp_path):
    env = env_with(settings__baseline="twisted", kinds={"nginx": "Nginx", "twisted": "Twisted"})
    first = write_run(tmp_path / "a", paired_case(A, NGINX), env)
    second = write_run(tmp_path / "b", paired_case([rate * 1.2 for rate in A], NGINX), {**env, "run": "b"})
    markdown = compare.compare_runs(first, second)
    assert "## Twisted against Nginx" not in markdown
    (row,) = table_rows(markdown, "Nginx against Twisted, B against A")
    assert row[0] == "`nginx`" and row[4].startswith(f"{1 / 1.2:.3f}") and row[5].startswith("changed: lower in B")


def test_runs_with_other_baselines_have_no_ratio_compared(tmp_path):
    first = write_run(tmp_path / "a", paired_case(A, NGINX), ENV)
    second = write_run(tmp_path / "b", paired_case(A, NGINX), env_with(settings__baseline="twisted"))
    with pytest.raises(BenchError, match=r"\(settings.baseline\)"):
        compare.compare_runs(first, second)
    forced = compare.compare_runs(first, second, force=True)
    assert "Not compared: A compared every cell with Nginx, B with Twisted." in forced
