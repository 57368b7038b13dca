"""Charts: drawn from a real small run and from constructed records, read back as PNGs."""
from statistics import geometric_mean

import pytest
from PIL import Image
from support import bench_run, write_run
from support import constructed_record as record

from bench.records import read_records
from bench.report import charts

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path):
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] > 0 and image.size[1] > 0
        assert "Software" not in image.info


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    """A real run: Nginx and Twisted on CPython, 1 and 2 workers, measured by wrk."""
    run_dir = bench_run(tmp_path_factory.mktemp("charts"), "real", workers=(1, 2))
    assert [r.status for r in read_records(run_dir / "results.jsonl")] == ["ok"] * 4
    return run_dir


def test_a_real_run_gets_bars_ratio_and_scaling_charts(real_run):
    paths = charts.write_charts(real_run)
    assert [p.name for p in paths] == ["chart-reqs-40-keepalive.png", "chart-ratio.png", "chart-scaling-40-keepalive.png"]
    for path in paths:
        assert path.parent == real_run
        assert_png(path)


def test_drawing_a_run_again_writes_the_same_bytes(real_run):
    first = {p.name: p.read_bytes() for p in charts.write_charts(real_run)}
    second = {p.name: p.read_bytes() for p in charts.write_charts(real_run)}
    assert first == second


# -- constructed records -----------------------------------------------------------------



SWEEP = [
    record("nginx", 1, [100, 110, 105]), record("nginx", 2, [190, 200, 210]),
    record("twisted", 1, [40, 42, 41]), record("twisted", 2, [70, 75, 72], verdicts=["noisy"]),
    record("nginx", 1, [30, 31, 32], keepalive=False), record("nginx", 2, [50, 55, 60], keepalive=False),
    record("twisted", 1, [10, 11, 12], keepalive=False, status="flagged"),
    record("twisted", 2, [], keepalive=False, status="failed"),
]


def test_a_constructed_sweep_gets_a_scaling_chart_per_case(tmp_path):
    paths = charts.write_charts(write_run(tmp_path / "sweep", SWEEP))
    assert [p.name for p in paths] == [
        "chart-reqs-40-keepalive.png", "chart-reqs-40-close.png", "chart-ratio.png",
        "chart-scaling-40-keepalive.png", "chart-scaling-40-close.png"]
    for path in paths:
        assert_png(path)


def crosses(ax):
    """The red crosses that stand where a cell that is not clean would be: their (x, y)."""
    return [(line.get_xdata()[0], line.get_ydata()[0]) for line in ax.lines
            if line.get_marker() == "x" and line.get_color() == charts.NOT_CLEAN]


def test_unclean_cells_have_no_bar_only_a_cross_and_their_status():
    points = charts.cases(SWEEP)[(40, False)]
    ax = charts.reqs_figure((40, False), points, "x", "nginx").axes[0]
    bars = [patch for patch in ax.patches if patch.get_height() > 0]
    assert sorted(bar.get_height() for bar in bars) == [31, 55]  # Nginx's two; the flagged 11 is no bar
    assert len(crosses(ax)) == 2 and all(y == 0 for _, y in crosses(ax))
    texts = [t.get_text() for t in ax.texts]
    assert "flagged" in texts and "failed" in texts
    assert "not clean: no figure (see report)" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_ratios_pair_twisted_with_nginx_at_equal_workers_and_only_when_clean():
    found = charts.ratios(SWEEP, "nginx")
    by_key = {(r.case, r.workers): r for r in found}
    # measured apart: the ratio of each side's geometric mean, as the report gives it
    assert by_key[((40, True), 1)].value == pytest.approx(geometric_mean([40, 42, 41]) / geometric_mean([100, 110, 105]))
    assert by_key[((40, True), 2)].value == pytest.approx(geometric_mean([70, 75, 72]) / geometric_mean([190, 200, 210]))
    assert by_key[((40, False), 1)].value is None and by_key[((40, False), 1)].why_not == "twisted flagged"
    assert by_key[((40, False), 2)].why_not == "twisted failed"


def test_linear_reference_starts_from_the_fewest_clean_workers():
    line = charts.scaling_lines(charts.cases(SWEEP)[(40, True)], "nginx")["twisted/pypy/shared/fixed"]
    assert charts.linear_reference(line) == [(1, 41.0), (2, 82.0)]
    flagged_first = charts.scaling_lines(charts.cases(SWEEP)[(40, False)], "nginx")["twisted/pypy/shared/fixed"]
    assert charts.linear_reference(flagged_first) == []


def test_charts_that_would_be_empty_are_skipped_and_stale_ones_removed(tmp_path):
    run_dir = write_run(tmp_path / "one", [record("twisted", 2, [70, 75]), record("twisted", 2, [70, 75], payload=4096)])
    (run_dir / "chart-ratio.png").write_bytes(b"old")
    paths = charts.write_charts(run_dir)
    assert [p.name for p in paths] == ["chart-reqs-40-keepalive.png", "chart-reqs-4096-keepalive.png"]
    assert sorted(p.name for p in run_dir.glob("chart-*.png")) == sorted(p.name for p in paths)


def test_a_run_with_no_records_has_no_charts(tmp_path):
    run_dir = write_run(tmp_path / "empty", [])
    (run_dir / "results.jsonl").write_text("")
    assert charts.write_charts(run_dir) == []


def test_chart_links_embed_each_chart_under_one_heading(tmp_path):
    lines = charts.chart_links([tmp_path / "chart-reqs-40-close.png", "chart-ratio.png", "chart-scaling-10000-keepalive.png"],
                                "Twisted/Nginx")
    assert lines == [
        "## Charts", "",
        "![req/s per configuration, 40 bytes, no keep-alive](chart-reqs-40-close.png)", "",
        "![Twisted/Nginx ratio at equal workers](chart-ratio.png)", "",
        "![scaling with workers, 10000 bytes, keep-alive](chart-scaling-10000-keepalive.png)", "",
    ]
    assert charts.chart_links([], "Twisted/Nginx") == []
    assert charts.chart_links(["chart-latency.png"], "Twisted/Nginx")[2] == "![chart-latency](chart-latency.png)"
