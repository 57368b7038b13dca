"""The sweep's plan: the grid of offered rates from a case's maxima, the rotating order, the step's length."""
import pytest
from support import sweep_step as step

from bench.errors import BenchError
from bench.knee import Rule
from bench.measure.sweep import Plan, baseline_rate, offered_rates, refined_rate, seconds, turns

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


NGINX = [step(8000, p99=900), step(40_000, p99=1000), step(60_000, p99=1100), step(80_000, achieved=70_000)]
TWISTED = [step(8000, p99=2000), step(40_000, p99=3000), step(60_000, achieved=45_000), step(80_000, achieved=40_000)]


def test_a_refined_rate_halves_the_bracket_where_the_slowest_server_falls_over():
    assert refined_rate([NGINX, TWISTED], Rule()) == 50_000  # Twisted held 40k, not 60k
    then = [NGINX + [step(50_000, p99=1050)], TWISTED + [step(50_000, p99=4000)]]
    assert refined_rate(then, Rule()) == 55_000  # it held 50k too: the bracket is now 50k-60k
    failed = [NGINX + [step(50_000, p99=1050)], TWISTED + [step(50_000, achieved=41_000)]]
    assert refined_rate(failed, Rule()) == 45_000


@pytest.mark.parametrize("sweeps", [
    [NGINX, [step(8000, achieved=10)]],  # a server sustained no rate: no bracket to halve
    [NGINX[:3], TWISTED[:2] + [step(60_000)]],  # both held every rate: nothing above the slowest knee
    [[step(10), step(11, achieved=1)]],  # a request apart
    [],
])
def test_no_refined_rate_without_a_bracket(sweeps):
    assert refined_rate(sweeps, Rule()) is None


def test_the_plan_reads_refine_and_the_knee_rule():
    plan = Plan.of({**SETTINGS, "refine": 2, "knee": {"achieved": 0.9, "p99_factor": 5, "p99_ms": None}})
    assert (plan.refine, plan.rule) == (2, Rule(achieved=0.9, p99_factor=5))
    assert Plan.of(SETTINGS).refine == 0  # a run from before refining


def test_the_default_sweep_of_two_servers_fits_beside_the_rounds_in_five_minutes(project_latency):
    plan = Plan.of(project_latency)
    sweep = seconds(plan, len(plan.grid), 2)
    assert plan.refine == 1 and sweep == (len(plan.grid) + 1) * 2 * (plan.step + 0.5)
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
