"""Summaries, and t intervals on the log scale, checked against known values and scipy's own t tests."""
import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from bench.stats import Interval, difference, drift, interval, log_mean, rounds_needed, summarize, t_quantile


def test_summary_of_repeats():
    summary = summarize([100.0, 110.0, 90.0])
    assert (summary.n, summary.median, summary.low, summary.high) == (3, 100.0, 90.0, 110.0)
    assert summary.cv == pytest.approx(0.1)


def test_one_value_has_no_spread_and_none_has_no_summary():
    assert summarize([5]).cv == 0.0
    assert summarize([]) is None


def test_the_log_mean_of_values_and_the_variance_of_that_mean():
    found = log_mean([1, math.e, math.e ** 2])  # logs 0, 1, 2: mean 1, sample variance 1
    assert found.value == pytest.approx(1.0) and found.var == pytest.approx(1 / 3)
    assert found.n == 3 and found.df == pytest.approx(2)
    assert log_mean([]) is None


def test_student_t_quantiles():
    assert t_quantile(0.95, 2) == pytest.approx(4.302653, abs=1e-6)
    assert t_quantile(0.95, 9) == pytest.approx(2.262157, abs=1e-6)
    assert t_quantile(0.95, math.inf) == pytest.approx(1.959964, abs=1e-6)


def test_a_one_sample_interval_is_the_t_interval_on_the_logs_taken_back_by_exp():
    logs = [0.0, 0.1, 0.2]  # mean 0.1, standard deviation 0.1
    found = interval(log_mean(math.exp(x) for x in logs), 0.95)
    reach = 4.302653 * 0.1 / math.sqrt(3)
    assert found.centre == pytest.approx(math.exp(0.1))
    assert (found.low, found.high) == pytest.approx((math.exp(0.1 - reach), math.exp(0.1 + reach)), rel=1e-6)
    assert (found.n, found.confidence) == (3, 0.95)
    low, high = scipy_stats.ttest_1samp(logs, 0.0).confidence_interval(0.95)
    assert (found.low, found.high) == pytest.approx((math.exp(low), math.exp(high)))


def test_a_stricter_confidence_gives_a_wider_interval():
    values = [0.5, 0.56, 0.61, 0.52, 0.58]
    assert interval(log_mean(values), 0.998).half_width > interval(log_mean(values), 0.95).half_width


def test_the_half_width_is_the_larger_side_over_the_centre():
    # [0.54, 0.62] around 0.60: ±10 % on the low side, though (high − low) / 2 is only ±6.7 %
    assert Interval(n=3, centre=0.6, low=0.54, high=0.62, confidence=0.95).half_width == pytest.approx(0.1)
    assert Interval(n=3, centre=0.6, low=0.59, high=0.69, confidence=0.95).half_width == pytest.approx(0.15)


def test_one_value_has_no_interval():
    found = interval(log_mean([0.61]), 0.95)
    assert found.centre == pytest.approx(0.61) and found.n == 1
    assert found.low is None and found.high is None and found.half_width == math.inf


def test_the_difference_of_two_log_means_is_welchs_interval():
    a, b = [110.0, 120.0, 125.0, 117.0], [100.0, 90.0, 104.0, 97.0, 93.0]
    found = interval(difference(log_mean(a), log_mean(b)), 0.95)
    test = scipy_stats.ttest_ind(np.log(a), np.log(b), equal_var=False)
    low, high = test.confidence_interval(0.95)
    assert (found.low, found.high) == pytest.approx((math.exp(low), math.exp(high)))
    assert found.centre == pytest.approx(math.exp(np.mean(np.log(a)) - np.mean(np.log(b))))
    assert difference(log_mean(a), log_mean(b)).df == pytest.approx(test.df)
    assert found.n == 4


def test_differences_compose_welch_satterthwaite_over_all_their_samples():
    samples = [[1.0, 1.2, 1.1], [2.0, 2.5, 2.2, 2.1], [0.9, 1.0], [3.0, 3.3, 3.1]]
    a, b, c, d = (log_mean(s) for s in samples)
    both = difference(difference(a, b), difference(c, d))
    variances = [np.var(np.log(s), ddof=1) / len(s) for s in samples]
    assert both.var == pytest.approx(sum(variances))
    assert both.df == pytest.approx(sum(variances) ** 2 / sum(v ** 2 / (len(s) - 1) for v, s in zip(variances, samples)))


def test_a_side_with_one_value_leaves_the_difference_without_an_interval():
    found = interval(difference(log_mean([110.0, 120.0]), log_mean([100.0])), 0.95)
    assert found.low is None and found.centre == pytest.approx(math.sqrt(110 * 120) / 100)


def test_rounds_needed_is_the_first_count_whose_interval_meets_the_target():
    values = [0.50, 0.58, 0.62, 0.55, 0.66, 0.53]
    estimate = log_mean(values)
    needed = rounds_needed(estimate, 0.05, 0.95)
    spread = math.sqrt(estimate.var * estimate.n)

    def half_width(n):
        return math.exp(t_quantile(0.95, n - 1) * spread / math.sqrt(n)) - 1

    assert half_width(needed) <= 0.05 < half_width(needed - 1)
    assert rounds_needed(estimate, 0.05, 0.998) > needed
    assert rounds_needed(log_mean([0.6]), 0.05, 0.95) is None
    assert rounds_needed(estimate, 0.0001, 0.95, most=50) is None


@pytest.mark.parametrize("values, ends", [
    ([1, 2, 3, 4, 5, 6], (1.5, 5.5)),  # thirds of two: medians of [1, 2] and [5, 6]
    ([4, 1, 9, 7], (4, 7)),  # a third of one value
    ([3, 1, 2, 10, 11, 12, 20, 30, 25], (2, 25)),
    ([1, 2], None),  # fewer than three: no thirds
])
def test_drift_compares_the_first_third_with_the_last(values, ends):
    assert drift(values) == ends
