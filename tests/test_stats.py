import pytest

from bench.stats import summarize


def test_summary_of_repeats():
    summary = summarize([100.0, 110.0, 90.0])
    assert (summary.n, summary.median, summary.low, summary.high) == (3, 100.0, 90.0, 110.0)
    assert summary.cv == pytest.approx(0.1)


def test_one_value_has_no_spread_and_none_has_no_summary():
    assert summarize([5]).cv == 0.0
    assert summarize([]) is None
