"""The headline ratio: per round when paired, of geometric means when not, with its t interval."""
import math

import numpy as np
import pytest
from scipy import stats as scipy_stats
from support import constructed_record

from bench import ratios
from bench.records import ROUND_CAP, TARGET, LoadResult, append_record, read_records


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


def test_paired_ratios_are_taken_per_round_and_their_geometric_mean_is_the_headline():
    twisted, nginx = paired([50, 60, 70], [100, 100, 140])
    assert ratios.round_ratios(twisted, nginx) == [0.5, 0.6, 0.5]
    interval = ratios.ratio(twisted, nginx)
    assert interval.centre == pytest.approx((0.5 * 0.6 * 0.5) ** (1 / 3))  # not the median 0.5, not the mean 0.533
    assert interval.n == 3 and interval.low < interval.centre < interval.high


def test_the_paired_interval_is_the_t_interval_of_the_log_round_ratios():
    twisted, nginx = paired([50, 61, 70, 55, 66], [100, 98, 120, 101, 99])
    logs = np.log(ratios.round_ratios(twisted, nginx))
    low, high = scipy_stats.ttest_1samp(logs, 0.0).confidence_interval(0.95)
    interval = ratios.ratio(twisted, nginx)
    assert (interval.low, interval.high) == pytest.approx((math.exp(low), math.exp(high)))
    assert interval.confidence == 0.95


def test_drift_shared_by_both_sides_leaves_the_paired_ratio_alone():
    drift = [1.0, 1.3, 0.8, 1.2, 0.9, 1.25]
    twisted, nginx = paired([60 * d for d in drift], [100 * d for d in drift])
    interval = ratios.ratio(twisted, nginx)
    assert round(interval.centre, 9) == 0.6 and interval.half_width < 1e-9
    twisted.group = None  # the same numbers taken apart: the drift now widens the interval
    assert ratios.ratio(twisted, nginx).half_width > 0.05


def test_apart_the_ratio_is_welchs_interval_on_the_log_rates():
    twisted, nginx = paired([50, 61, 70, 55], [100, 98, 120, 101, 99])
    twisted.group = None
    interval = ratios.ratio(twisted, nginx)
    mine, base = np.log([50, 61, 70, 55]), np.log([100, 98, 120, 101, 99])
    low, high = scipy_stats.ttest_ind(mine, base, equal_var=False).confidence_interval(0.95)
    assert interval.centre == pytest.approx(math.exp(mine.mean() - base.mean()))
    assert (interval.low, interval.high) == pytest.approx((math.exp(low), math.exp(high)))
    assert interval.n == 4


def test_a_round_with_a_failed_run_gives_no_ratio():
    twisted, nginx = paired([50, 60, 70], [100, 100, 100])
    nginx.measured[1].failed = 10
    assert ratios.round_ratios(twisted, nginx) == [0.5, 0.7]


def test_one_round_gives_a_ratio_without_an_interval():
    interval = ratios.ratio(*paired([61], [100]))
    assert interval.centre == pytest.approx(0.61) and interval.n == 1 and interval.low is None


def test_the_interval_read_back_from_results_jsonl_is_the_same(tmp_path):
    twisted, nginx = paired([50, 61, 70, 55, 66], [100, 98, 120, 101, 99])
    for record in (twisted, nginx):
        record.stopping = {"rounds": 5, "ended": ROUND_CAP, "seconds": 20.0, "target": 0.05, "confidence": 0.998}
        append_record(tmp_path / "results.jsonl", record)
    again = read_records(tmp_path / "results.jsonl")
    assert ratios.ratio(again[0], again[1]) == ratios.ratio(twisted, nginx)


def test_a_case_that_ended_on_its_target_shows_the_stricter_interval_it_stopped_on():
    twisted, nginx = paired([50, 61, 70, 55, 66, 58], [100, 98, 120, 101, 99, 104])
    plain = ratios.ratio(twisted, nginx)
    for ended, confidence in ((ROUND_CAP, 0.95), (TARGET, 0.998)):
        for record in (twisted, nginx):
            record.stopping = {"rounds": 6, "ended": ended, "seconds": 30.0, "target": 0.05, "confidence": 0.998}
        assert ratios.shown_confidence(twisted, nginx) == confidence
        shown = ratios.ratio(twisted, nginx)
        assert shown.confidence == confidence and shown.centre == pytest.approx(plain.centre)
    assert shown.half_width > plain.half_width
    assert ratios.ratio(twisted, nginx, confidence=0.95) == plain


def test_per_core_divides_each_side_by_its_server_cores():
    twisted, nginx = paired([60, 60, 60], [100, 100, 100], cores=(1.5, 1.0))
    assert ratios.ratio(twisted, nginx, per_core=True).centre == pytest.approx(0.4)


def test_no_clean_number_on_a_side_gives_no_ratio():
    twisted, nginx = paired([50], [100])
    nginx.runs = [LoadResult(tool="wrk", command="wrk", seconds=1, req_per_s=176056.0, kbyte_per_s=0, failed=9)]
    assert ratios.ratio(twisted, nginx) is None
    twisted.group = nginx.group = None
    assert ratios.ratio(twisted, nginx) is None
