"""Verdicts on constructed measurements: warm-up convergence, noise, who was the limit, spread."""
import pytest

from bench.measure.verdicts import (
    client_bound,
    machine_bound,
    mostly,
    noisy,
    server_capacity,
    spread,
    warmed_up,
)


@pytest.mark.parametrize("rates, tolerance, expected", [
    ([30_000], 0.03, False),                       # one round can't show it stopped rising
    ([30_000, 45_000], 0.03, False),               # a JIT still warming: +50 %
    ([30_000, 45_000, 60_000, 61_000], 0.03, True),  # +1.7 %: stable
    ([60_000, 59_000], 0.03, True),                # CPython/Nginx: flat from the start
    ([60_000, 61_500], 0.03, True),                # within tolerance
    ([60_000, 62_500], 0.03, False),               # just above it
])
def test_warm_up_ends_when_req_per_s_stops_rising(rates, tolerance, expected):
    assert warmed_up(rates, tolerance) is expected


@pytest.mark.parametrize("rates, expected", [
    ([60_000, 60_500, 59_800], False),   # stable: CV well under 5 %
    ([60_000, 40_000, 55_000], True),    # noisy
    ([60_000], False),                   # one value has no spread
    ([], False),
])
def test_noisy_means_a_spread_above_the_threshold(rates, expected):
    assert noisy(rates, 0.05) is expected


def test_client_bound_when_the_load_generator_is_saturated_and_the_server_idles():
    # wrk -t1 used its one core; a 4-worker server on a separate 8-core host used 1.5 cores.
    assert client_bound(loadgen_cores=0.98, threads=1, server_cores=1.5, workers=4, server_cpus=8, same_host=False)


def test_not_client_bound_when_the_server_used_its_cores():
    assert not client_bound(loadgen_cores=0.98, threads=1, server_cores=3.9, workers=4, server_cpus=8, same_host=False)


def test_not_client_bound_when_the_load_generator_had_room():
    assert not client_bound(loadgen_cores=0.5, threads=1, server_cores=0.4, workers=4, server_cpus=8, same_host=False)


def test_on_a_shared_host_the_load_generator_takes_cores_from_the_server():
    # 2 cores: wrk takes 1, so 2 workers can only use the other; at 0.95 the server is the limit.
    assert server_capacity(2, 2, 1.0, same_host=True) == 1.0
    assert not client_bound(loadgen_cores=1.0, threads=1, server_cores=0.95, workers=2, server_cpus=2, same_host=True)
    assert client_bound(loadgen_cores=1.0, threads=1, server_cores=0.3, workers=2, server_cpus=2, same_host=True)


def test_spread_of_requests_across_workers():
    even = spread({"0": 500, "1": 500})
    assert even == {"min_share": 0.5, "max_share": 0.5, "imbalance": 1.0}
    skewed = spread({"0": 1, "1": 64_992})
    assert skewed["max_share"] > 0.99 and skewed["imbalance"] == pytest.approx(2.0, rel=1e-3)
    assert spread({"0": 100}) is None and spread({"0": 0, "1": 0}) is None


@pytest.mark.parametrize("server, loadgen, cpus, expected", [
    (1.0, 0.95, 2, True),    # Nginx and weighttp -t1 on 2 cores: the whole machine
    (1.43, 0.5, 2, True),    # Twisted took what the load generator left
    (0.7, 0.4, 2, False),    # room to spare
    (3.0, 0.9, 8, False),    # a big machine: neither filled it
])
def test_machine_bound_when_both_sides_fill_the_host(server, loadgen, cpus, expected):
    assert machine_bound(server_cores=server, loadgen_cores=loadgen, cpus=cpus) is expected


@pytest.mark.parametrize("judgements, expected", [([True, True, False], True), ([True, False], False), ([], False)])
def test_mostly_means_more_than_half(judgements, expected):
    assert mostly(judgements) is expected
