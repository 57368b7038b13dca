"""The headline ratio: per round when paired, of medians when not, with a seeded interval."""
from support import constructed_record

from bench import ratios
from bench.records import LoadResult


def paired(twisted_rates, nginx_rates, cores=None):
    twisted, nginx = constructed_record("twisted", 2, twisted_rates), constructed_record("nginx", 2, nginx_rates)
    for record in (twisted, nginx):
        record.group = "case"
        for number, run in enumerate(record.measured):
            run.round = number
    if cores:
        for record, used in ((twisted, cores[0]), (nginx, cores[1])):
            for run in record.measured:
                run.sample = {"server_cores": used}
    return twisted, nginx


def test_paired_ratios_are_taken_per_round():
    twisted, nginx = paired([50, 60, 70], [100, 100, 140])
    assert ratios.round_ratios(twisted, nginx) == [0.5, 0.6, 0.5]
    interval = ratios.ratio(twisted, nginx)
    assert interval.median == 0.5 and interval.low <= 0.5 <= interval.high and interval.n == 3


def test_drift_shared_by_both_sides_leaves_the_paired_ratio_alone():
    drift = [1.0, 1.3, 0.8, 1.2, 0.9, 1.25]
    twisted, nginx = paired([60 * d for d in drift], [100 * d for d in drift])
    interval = ratios.ratio(twisted, nginx)
    assert round(interval.median, 9) == 0.6 and interval.half_width < 1e-9
    twisted.group = None  # the same numbers taken apart: the drift now widens the interval
    assert ratios.ratio(twisted, nginx).half_width > 0.05


def test_a_round_with_a_failed_run_gives_no_ratio():
    twisted, nginx = paired([50, 60, 70], [100, 100, 100])
    nginx.measured[1].failed = 10
    assert ratios.round_ratios(twisted, nginx) == [0.5, 0.7]


def test_the_interval_is_seeded_so_a_report_renders_the_same():
    twisted, nginx = paired([50, 61, 70, 55, 66], [100, 98, 120, 101, 99])
    assert ratios.ratio(twisted, nginx) == ratios.ratio(twisted, nginx)


def test_per_core_divides_each_side_by_its_server_cores():
    twisted, nginx = paired([60, 60, 60], [100, 100, 100], cores=(1.5, 1.0))
    assert ratios.ratio(twisted, nginx, per_core=True).median == 0.4


def test_no_clean_number_on_a_side_gives_no_ratio():
    twisted, nginx = paired([50], [100])
    nginx.runs = [LoadResult(tool="wrk", command="wrk", seconds=1, req_per_s=176056.0, kbyte_per_s=0, failed=9)]
    assert ratios.ratio(twisted, nginx) is None
