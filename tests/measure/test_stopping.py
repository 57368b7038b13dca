"""The stopping rule on constructed records: when a case's rounds end, and why."""
import math
from dataclasses import replace

import pytest
from support import constructed_record

from bench.measure import stopping
from bench.records import ROUND_CAP, TARGET, TIME_CAP, Status

RULE = stopping.Rule(repeats=3, min_rounds=6, max_repeats=30, max_seconds=50, target=0.05, baseline="nginx")


def case(nginx_rates, *twisted_rates, server="nginx"):
    """A case's records after len(nginx_rates) rounds: the baseline first, then each Twisted configuration."""
    records = [constructed_record(server, 2, nginx_rates)]
    for index, rates in enumerate(twisted_rates):
        record = constructed_record("twisted", 2, rates)
        record.cell = replace(record.cell, variant={**record.cell.variant, "resource": f"resource{index}"})
        records.append(record)
    for record in records:
        record.group = "case"
        for number, run in enumerate(record.measured):
            run.round = number
    return records


STEADY = [60.0, 60.6, 59.5, 60.2, 59.8, 60.4, 59.9, 60.1]  # about ±0.5 % a round
NOISY = [60.0, 66.0, 55.0, 63.0, 57.0, 65.0, 54.0, 62.0]  # about ±8 % a round


def test_the_rule_spends_the_95_percent_error_over_the_rounds_it_may_stop_at():
    assert (RULE.first, RULE.looks) == (6, 25)
    assert RULE.confidence == pytest.approx(1 - 0.05 / 25)
    assert stopping.Rule(10, 6, 30, 50, 0.05, "nginx").first == 10
    assert stopping.Rule(1, 1, 1, 50, 0.05, "nginx").looks == 1
    assert stopping.Rule.of(3, {"min_rounds": 6, "max_repeats": 30, "max_seconds": 50, "ci_target": 0.05,
                                "cv_threshold": 0.05}, "nginx") == RULE


def test_narrow_intervals_end_a_case_only_from_min_rounds_on():
    for rounds in range(3, 6):
        records = case([100.0] * rounds, STEADY[:rounds])
        assert stopping.intervals(records, "nginx")[0].half_width < 0.05  # the old rule stopped here
        assert stopping.ended(records, rounds, 5.0 * rounds, RULE) is None
    assert stopping.ended(case([100.0] * 6, STEADY[:6]), 6, 30.0, RULE) == TARGET


def test_the_target_is_checked_on_the_stricter_interval():
    rates = [60.0, 63.0, 57.5, 61.5, 58.0, 62.5]  # within ±5 % at 95 %, not at 99.8 %
    records = case([100.0] * 6, rates)
    assert (stopping.intervals(records, "nginx")[0].half_width <= 0.05
            < stopping.intervals(records, "nginx", RULE.confidence)[0].half_width)
    assert stopping.ended(records, 6, 30.0, RULE) is None


def test_every_ratio_must_meet_the_target():
    assert stopping.ended(case([100.0] * 8, STEADY, NOISY), 8, 40.0, RULE) is None
    assert stopping.ended(case([100.0] * 8, STEADY, STEADY), 8, 40.0, RULE) == TARGET


def test_the_caps_end_a_case_short_of_its_target():
    records = case([100.0] * 8, NOISY)
    assert stopping.ended(records, 8, 40.0, RULE) is None
    # one more round of 5 s would end past the 50 s cap
    assert stopping.ended(records, 8, 45.0, RULE) == TIME_CAP
    assert stopping.ended(records, 8, 40.0, stopping.Rule(3, 6, 8, 50, 0.05, "nginx")) == ROUND_CAP
    # the target wins at the round that also meets a cap
    assert stopping.ended(case([100.0] * 8, STEADY), 8, 45.0, RULE) == TARGET


def test_repeats_are_measured_whatever_the_caps():
    records = case([100.0] * 2, NOISY[:2])
    assert stopping.ended(records, 2, 400.0, RULE) is None
    assert stopping.ended(records, 2, 400.0, stopping.Rule(2, 6, 30, 50, 0.05, "nginx")) == TIME_CAP


def test_one_round_is_never_a_narrow_interval():
    rule = stopping.Rule(repeats=1, min_rounds=1, max_repeats=5, max_seconds=50, target=0.05, baseline="nginx")
    records = case([100.0], [61.0])
    assert stopping.intervals(records, "nginx")[0].half_width == math.inf
    assert stopping.ended(records, 1, 5.0, rule) is None


def test_the_rule_watches_each_twisted_ratio_and_leaves_failed_cells_out():
    records = case([100.0] * 4, [50.0, 51.0, 49.0, 50.0], [70.0, 72.0, 69.0, 71.0])
    found = stopping.intervals(records, "nginx")
    assert [round(interval.centre, 2) for interval in found] == [0.5, 0.7]
    records[2].status = Status.FAILED
    assert len(stopping.intervals(records, "nginx")) == 1


def test_without_nginx_the_rule_watches_each_servers_req_per_s():
    records = case([100.0, 104.0, 98.0], [50.0, 51.0, 49.0], server="twisted")
    found = stopping.intervals(records, "nginx")
    assert len(found) == 2 and found[0].centre == pytest.approx((100 * 104 * 98) ** (1 / 3))
    records[0].status = Status.FAILED
    assert len(stopping.intervals(records, "nginx")) == 1


def test_the_rule_watches_each_ratio_to_the_baseline_it_is_given():
    records = case([100.0] * 4, [50.0, 51.0, 49.0, 50.0])
    (twisted,) = stopping.intervals(records, "twisted")  # Nginx's req/s over Twisted's
    assert round(twisted.centre, 2) == 2.0
    assert [round(i.centre, 2) for i in stopping.intervals(records, "nginx")] == [0.5]
    rule = replace(RULE, baseline="twisted")
    assert stopping.widest(records, rule, 4) == (f"widest interval ±{twisted.half_width:.1%} at 95.0% "
                                                 f"(target ±5% from round 6)")


def test_a_failed_nginx_leaves_each_servers_own_interval():
    records = case([100.0] * 3, [50.0, 51.0, 49.0])
    records[0].status = Status.FAILED
    (found,) = stopping.intervals(records, "nginx")
    assert found.centre == pytest.approx((50 * 51 * 49) ** (1 / 3))


def test_the_outcome_a_record_keeps():
    assert stopping.outcome(RULE, 9, 47.25, TIME_CAP) == {
        "rounds": 9, "ended": TIME_CAP, "seconds": 47.25, "target": 0.05, "confidence": round(1 - 0.05 / 25, 6)}


def test_the_progress_shows_the_widest_interval_the_rule_would_check():
    records = case([100.0] * 8, STEADY, NOISY)
    widest = max(interval.half_width for interval in stopping.intervals(records, "nginx", RULE.confidence))
    assert stopping.widest(records, RULE, 8) == f"widest interval ±{widest:.1%} at 99.8% (target ±5%)"
    early = case([100.0] * 4, STEADY[:4], NOISY[:4])
    widest = max(interval.half_width for interval in stopping.intervals(early, "nginx"))
    assert stopping.widest(early, RULE, 4) == f"widest interval ±{widest:.1%} at 95.0% (target ±5% from round 6)"
    assert stopping.widest(case([100.0], [60.0]), RULE, 1) == ""
