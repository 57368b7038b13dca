"""Several load hosts: each one's share, load, latency and saturation in the report; compare and charts too."""
import copy

from support import constructed_record, load_host_part, several_hosts_record, write_run

from bench.envfile import roles
from bench.report import charts, compare
from bench.report import markdown as report
from bench.report.loadhosts import PER_HOST, load_hosts_section, split_words
from bench.report.machines import environment_section, tuning_warnings
from bench.report.markdown import headers

NGINX = roles({})  # a run that did not name its baseline: Nginx

# The results table of constructed records: Twisted's variant in columns, Nginx the baseline.
HEADERS = headers(["interpreter", "mode", "resource"], "nginx")

A, B = "root@10.200.5.3:2222", "root@10.200.5.4:2222"


def rounds(saturated_a=(True, True, False), concurrency=(100, 100)):
    """Three rounds: A does two thirds of the requests, B one third; A saturated as given, B never."""
    return [[load_host_part(A, rate_a, done=20000, p50=1111.0, p99=8000.0 + i, cores=0.9, saturated=sat,
                            concurrency=concurrency[0]),
             load_host_part(B, rate_b, done=10000, p50=5555.0, p99=20000.0, cores=0.4, concurrency=concurrency[1])]
            for i, (rate_a, rate_b, sat) in enumerate(zip((20000, 21000, 19000), (10000, 9000, 11000), saturated_a))]


def split(verdicts=("client-bound",), **kw):
    return several_hosts_record("twisted", 1, rounds(**kw), verdicts=verdicts)


def section_rows(lines):
    return {cells[4]: cells for cells in ([c.strip() for c in line.strip("|").split("|")]
                                          for line in "\n".join(lines).splitlines() if line.startswith("| `"))}


def test_each_load_host_has_its_share_load_latency_cpu_and_saturated_rounds():
    lines = load_hosts_section([split(), constructed_record("nginx", 1, [100, 101])])
    rows = section_rows(lines)
    assert set(rows) == {A, B}  # the single-host nginx cell has no rows
    # connections, threads, share, req/s, p50, p99, cores, saturated
    assert rows[A][5:] == ["100", "1", "67%", "20,000", "1.11", "8.00", "0.90", "2/3"]
    assert rows[B][5:] == ["100", "1", "33%", "10,000", "5.55", "20.00", "0.40", "0/3"]
    assert ("The total concurrency (200 connections) was split evenly: 100 per load host; "
            "each ran the profile's 1 thread.") in lines


def test_an_uneven_split_names_each_host():
    record = split(concurrency=(150, 50))
    assert split_words(record) == ("The total concurrency (200 connections) was split unevenly: "
                                   f"150 on {A}, 50 on {B}; each ran the profile's 1 thread.")


def test_a_run_without_clean_rounds_on_a_host_shows_no_share():
    record = split()
    for run in record.measured:
        run.parts[1].failed = 5  # B failed requests: no round is a number
    rows = section_rows(load_hosts_section([record]))
    assert rows[B][7] == "—" and rows[A][7] == "—"


def test_latency_is_per_load_host_and_never_averaged():
    records = [split(), constructed_record("nginx", 1, [100, 101])]
    text = report.render(records, {"run": "x"})
    row = next(line for line in text.split("## Results")[1].splitlines() if line.startswith("| twisted"))
    cells = [part.strip() for part in row.split("|")]
    assert cells[HEADERS.index("latency p50 / p90 / p99 (ms)") + 1] == PER_HOST
    assert "3.33" not in text  # (1.11 + 5.55) / 2: A's and B's p50 averaged
    assert text.index("## Results") < text.index("## Load hosts") < text.index("## Who was the limit")


def test_the_limit_names_the_saturated_load_host():
    text = report.render([split()], {"run": "x"})
    limit = text.split("## Who was the limit")[1].split("\n## ")[0]
    row = next(line for line in limit.splitlines() if line.startswith("| `twisted"))
    assert row.rstrip(" |").endswith(f"client-bound ({A} saturated in 2/3 rounds): req/s is a lower bound")
    assert B not in row
    assert "| 1.30 " in row and "| 1 + 1 " in row  # the hosts' cores summed, each host's threads


def test_one_load_host_renders_as_before():
    records = [constructed_record("twisted", 1, [100, 101]), constructed_record("nginx", 1, [100, 101])]
    for record in records:
        for run in record.measured:
            run.sample = {"server_cores": 1.0, "server_rss_mb": 50.0, "loadgen_cores": 0.5}
    text = report.render(records, {"run": "x"})
    assert "## Load hosts" not in text and PER_HOST not in text and "several load hosts" not in text.lower()
    limit = text.split("## Who was the limit")[1].split("\n## ")[0]
    assert "| 0.50                   | 1         |" in limit  # the cell's threads, as before
    assert load_hosts_section(records) == []


def test_a_lost_load_host_is_said_with_its_reason():
    record = split(verdicts=())
    record.interrupt(f"{B}: connection lost (EOF); check the host")
    text = report.render([record], {"run": "x"})
    assert f"**interrupted** — {B}: connection lost (EOF); check the host" in text


LOAD_HOST = {"role": "load", "cpu_model": "AMD EPYC", "cpus": 4, "kernel": "Linux 6.1", "nofile": {},
             "loadgen": {"tool": "wrk", "version": "wrk 4.1.0"},
             "tuning": {"profile": "seed", "settings": {"fs.file-max": {"current": "1", "tuned": False}}}}
ENV = {"run": "a", "settings": {"loadgen": "wrk", "port": 8080},
       "hosts": [{"name": "root@10.200.5.2:2222", "role": "server", "cpus": 4, "nofile": {}, "nginx": "1.22.1"},
                 {**LOAD_HOST, "name": A}, {**LOAD_HOST, "name": B}]}


def test_the_environment_lists_every_load_host():
    text = "\n".join(environment_section(ENV))
    header = next(line for line in text.splitlines() if "server (" in line)
    assert f"load ({A})" in header and f"load ({B})" in header
    warnings = "\n".join(tuning_warnings(ENV))
    assert f"load host {A} was not tuned" in warnings and f"load host {B} was not tuned" in warnings


def test_compare_sees_each_load_host_and_compares_cells_with_parts(tmp_path):
    other = copy.deepcopy(ENV)
    other["run"] = "b"
    other["hosts"][2]["kernel"] = "Linux 6.12"
    a = write_run(tmp_path / "a", [split(), constructed_record("nginx", 1, [100, 101])], ENV)
    b = write_run(tmp_path / "b", [several_hosts_record("twisted", 1, [[load_host_part(A, 30000), load_host_part(B, 15000)]
                                                                       for _ in range(3)]),
                                   constructed_record("nginx", 1, [100, 101])], other)
    markdown = compare.compare_runs(a, b)
    assert "| `load 2.kernel` | Linux 6.1 | Linux 6.12 |" in markdown.replace("  ", " ").replace("  ", " ")
    row = next(line for line in markdown.splitlines() if line.startswith("| twisted"))
    assert "30,000 (n=3, client-bound)" in row and "45,000 (n=3)" in row and "+50.0%" in row
    newer = copy.deepcopy(ENV)
    newer["hosts"][2]["loadgen"] = {"tool": "wrk", "version": "wrk 4.2.0"}
    assert compare.incompatibilities(ENV, newer) == ["tools.load 2.loadgen.version"]


def test_charts_draw_records_with_parts():
    records = [split(), constructed_record("nginx", 1, [20000, 20100])]
    drawn = charts.figures(records, {"run": "x"})
    assert set(drawn) == {"chart-reqs-40-keepalive.png", "chart-ratio.png"}
    (ratio,) = charts.ratios(records, "nginx")
    assert ratio.value is not None and abs(ratio.value - 30000 / 20050) < 0.01
    answer = "\n".join(report.headline.answer_section(records, NGINX))
    assert f"| `twisted/pypy/shared/fixed` | ≥ {30000 / 20050:.2f} (" in answer  # Twisted client-bound: a lower bound
