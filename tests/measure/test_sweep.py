"""The sweep's plan: the grid of offered rates from a case's maxima, the rotating order, the step's length."""
import pytest

from bench.errors import BenchError
from bench.measure.sweep import Plan, baseline_rate, offered_rates, seconds, turns

SETTINGS = {"grid": [0.1, 0.25, 0.5, 0.75, 0.9, 1.0, 1.1], "step": 13, "connections": 200, "threads": 1}


@pytest.mark.parametrize("maxima, rate", [
    ({"nginx": 80_000.0, "twisted/pypy/shared/fixed": 60_000.0}, 80_000.0),
    ({"nginx": 50_000.0, "twisted/pypy/shared/fixed": 60_000.0}, 50_000.0),  # the baseline's, even when slower
    ({"nginx": None, "twisted/pypy/shared/fixed": 60_000.0, "twisted/cpython/shared/fixed": 20_000.0}, 60_000.0),
    ({"twisted/cpython/shared/fixed": 20_000.0}, 20_000.0),
    ({"nginx": None, "twisted/pypy/shared/fixed": None}, None),
])
def test_the_grid_is_a_share_of_the_baseline_else_of_the_fastest(maxima, rate):
    assert baseline_rate(maxima, "nginx") == rate


def test_every_server_sees_the_same_whole_rates_the_top_past_the_baseline():
    rates = offered_rates(81_234.0, Plan.of(SETTINGS).grid)
    assert rates == [8123.0, 20308.0, 40617.0, 60926.0, 73111.0, 81234.0, 89357.0]
    assert offered_rates(3.0, (0.1, 0.2, 1.0)) == [1.0, 3.0]  # at least 1 req/s, each rate once


def test_the_order_turns_by_one_from_rate_to_rate():
    servers = ["nginx", "pypy", "cpython"]
    assert [turns(servers, index) for index in range(4)] == [
        ["nginx", "pypy", "cpython"], ["pypy", "cpython", "nginx"], ["cpython", "nginx", "pypy"],
        ["nginx", "pypy", "cpython"]]
    assert turns([], 3) == []


def test_the_default_sweep_of_two_servers_fits_beside_the_rounds_in_five_minutes(project_latency):
    plan = Plan.of(project_latency)
    sweep = seconds(plan, len(plan.grid), 2)
    assert sweep == len(plan.grid) * 2 * (plan.step + 0.5)
    assert sweep + 50 + 2 * 6 + 10 <= 300  # the rounds' 50 s cap, two warm-ups of at most 6 s, start and stop


@pytest.mark.parametrize("change, message", [
    ({"step": 12}, r"^bench.latency.step is 12s: .* 200 connections on 1 threads need a step of at least 13s$"),
    ({"grid": []}, "bench.latency.grid is \\[\\]: give shares"),
    ({"grid": [0, 0.5]}, "give shares of the baseline's req/s above 0"),
    ({"threads": 300}, "300 threads for 200 connections"),
])
def test_a_plan_wrk2_cannot_measure_is_refused_in_one_line(change, message):
    with pytest.raises(BenchError, match=message):
        Plan.of({**SETTINGS, **change})


@pytest.fixture
def project_latency():
    from support import project_config

    from bench.config import plain
    return plain(project_config().bench.latency)
