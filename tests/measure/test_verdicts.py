"""Verdicts on constructed measurements: warm-up convergence, noise, who was the limit, spread.

Who was the limit is judged on records made as the runner makes them: real weighttp output,
sampled by the same function as a measured run (support.sampled_run), so the cores and the
machine's other processes in each sample are computed, not written in.
"""
import pytest
from support import PINNED_PLACEMENT, sampled_record, sampled_run

from bench.measure.verdicts import (
    BOTH_SATURATED,
    CLIENT_BOUND,
    EXHAUSTED,
    MACHINE_BOUND,
    WORKER_BOUND,
    Room,
    judged,
    mostly,
    noisy,
    server_capacity,
    spread,
    warmed_up,
)

PINNED = Room(server_cpus=1, load_cpus=1, partitioned=True)  # --server-cpus 1 --load-cpus 0 on a 2-CPU machine
TWO_CPUS = Room(server_cpus=2)


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


def test_spread_of_requests_across_workers():
    even = spread({"0": 500, "1": 500})
    assert even == {"min_share": 0.5, "max_share": 0.5, "imbalance": 1.0}
    skewed = spread({"0": 1, "1": 64_992})
    assert skewed["max_share"] > 0.99 and skewed["imbalance"] == pytest.approx(2.0, rel=1e-3)
    assert spread({"0": 100}) is None and spread({"0": 0, "1": 0}) is None


@pytest.mark.parametrize("judgements, expected", [([True, True, False], True), ([True, False], False), ([], False)])
def test_mostly_means_more_than_half(judgements, expected):
    assert mostly(judgements) is expected


# -- who was the limit, on records sampled as the runner samples them -------------------------

LIMITS = (CLIENT_BOUND, BOTH_SATURATED, MACHINE_BOUND, WORKER_BOUND)


def limits(record, room):
    return [verdict for verdict in judged(record, room, cv_threshold=1.0) if verdict in LIMITS]


def pinned_run(server, loadgen, other_on_load=0.0, other_on_server=0.0):
    """A run of the issue's pinned command: the load generator (and the harness) on CPU 0, the server on CPU 1."""
    return sampled_run(server=server, loadgen=loadgen, busy=[loadgen + 0.01 + other_on_load, server + other_on_server],
                       placement=PINNED_PLACEMENT)


def test_the_issues_pinned_nginx_is_client_bound_and_both_saturated():
    # Nginx, 1 worker pinned to CPU 1, at 0.95 of it; weighttp -t1 on CPU 0 at 0.97-0.98 of its core.
    runs = [pinned_run(server=0.95, loadgen=load) for load in (0.97, 0.98, 0.97, 0.98)]
    assert limits(sampled_record("nginx", runs), PINNED) == [CLIENT_BOUND, BOTH_SATURATED]
    assert (runs[0].sample["server_cpus_busy_cores"], runs[0].sample["load_cpus_busy_cores"]) == (0.95, 0.98)


def test_the_same_load_generator_beside_a_server_with_room_is_client_bound_alone():
    runs = [pinned_run(server=0.5, loadgen=0.97) for _ in range(3)]
    assert limits(sampled_record("nginx", runs), PINNED) == [CLIENT_BOUND]


def test_twisted_on_its_cpu_with_weighttp_at_half_a_core_is_the_servers_limit():
    runs = [pinned_run(server=0.98, loadgen=0.6) for _ in range(3)]
    assert limits(sampled_record("twisted", runs), PINNED) == []


def test_client_bound_takes_most_rounds_and_both_saturated_most_of_those():
    saturated = [pinned_run(server=0.95, loadgen=0.97), pinned_run(server=0.4, loadgen=0.96)]
    idle = [pinned_run(server=0.95, loadgen=0.5)]
    assert limits(sampled_record("nginx", saturated + idle), PINNED) == [CLIENT_BOUND]  # busy server in 1 of 2
    assert limits(sampled_record("nginx", saturated[:1] + idle * 2), PINNED) == []  # saturated in 1 of 3


def test_pinned_another_process_on_either_sides_cpu_makes_it_machine_bound():
    # On the server's CPU: Nginx got half of it. On the load generator's: weighttp got 0.55 of its core.
    server_side = [pinned_run(server=0.5, loadgen=0.6, other_on_server=0.48) for _ in range(3)]
    load_side = [pinned_run(server=0.6, loadgen=0.55, other_on_load=0.43) for _ in range(3)]
    assert limits(sampled_record("nginx", server_side), PINNED) == [MACHINE_BOUND]
    assert limits(sampled_record("nginx", load_side), PINNED) == [MACHINE_BOUND]
    assert server_side[0].sample["other_cores"] == pytest.approx(0.48, abs=0.002)


def test_unpinned_on_two_cpus_a_saturated_load_generator_and_a_full_machine_are_all_said():
    # Nginx's 2 workers got 1.0 core, weighttp 0.95: the machine was full, the server had half its workers' worth.
    runs = [sampled_run(server=1.0, loadgen=0.95, busy=1.97) for _ in range(3)]
    assert limits(sampled_record("nginx", runs, workers=2), TWO_CPUS) == [CLIENT_BOUND, BOTH_SATURATED, MACHINE_BOUND]


def uneven(busiest: float, server: float = 1.02) -> list:
    """Twisted's two workers at 1.02 cores together, the machine with room, its busiest process at ``busiest``."""
    runs = [sampled_run(server=server, loadgen=0.42, busy=1.5) for _ in range(3)]
    for run in runs:
        run.sample["busiest_process_cores"] = busiest
    return runs


def test_one_worker_at_a_whole_core_while_the_server_had_room_is_the_limit():
    # As a sweep step on 2 cores showed: Twisted fell behind at 1.01 server cores, one worker at 0.82 of them.
    assert limits(sampled_record("twisted", uneven(0.82), workers=2), TWO_CPUS) == [WORKER_BOUND]
    assert limits(sampled_record("twisted", uneven(0.52), workers=2), TWO_CPUS) == []  # the two shared the work
    assert limits(sampled_record("twisted", uneven(0.98), workers=1), TWO_CPUS) == []  # one worker: the server's own


def test_a_busy_server_is_not_also_said_to_have_one_saturated_worker():
    runs = [sampled_run(server=1.9, loadgen=0.05, busy=1.96) for _ in range(3)]
    for run in runs:
        run.sample["busiest_process_cores"] = 0.97
    assert WORKER_BOUND not in limits(sampled_record("twisted", runs, workers=2), TWO_CPUS)


def test_another_process_filling_the_machine_makes_it_machine_bound_and_is_measured():
    # The issue's newcomer run: Nginx at 0.89 cores, wrk at 0.53, another process took the rest.
    runs = [sampled_run(server=0.89, loadgen=0.53, busy=2.0) for _ in range(3)]
    record = sampled_record("nginx", runs, workers=2)
    assert limits(record, TWO_CPUS) == [MACHINE_BOUND]
    assert runs[0].sample["other_cores"] == pytest.approx(2.0 - 0.89 - 0.53 - 0.01, abs=0.002)


def test_steal_fills_the_machine_too():
    # A separate load host; the hypervisor took 1.8 of the server's 4 CPUs.
    runs = [sampled_run(server=2.0, loadgen=0.4, busy=2.1, steal=1.8, cpus=4, colocated=(False,)) for _ in range(3)]
    record = sampled_record("nginx", runs, workers=4)
    assert limits(record, Room(server_cpus=4)) == [MACHINE_BOUND]
    assert runs[0].sample["steal_cores"] == pytest.approx(1.8, abs=0.002)
    assert runs[0].sample["other_cores"] == pytest.approx(2.1 - 2.0 - 0.01, abs=0.002)  # the load host is elsewhere


def test_a_server_filling_its_own_machine_is_its_own_limit():
    runs = [sampled_run(server=7.8, loadgen=0.5, busy=7.85, cpus=8, colocated=(False,)) for _ in range(3)]
    assert limits(sampled_record("nginx", runs, workers=8), Room(server_cpus=8)) == []


def test_with_several_load_hosts_only_the_co_located_one_counts_against_the_server_machine():
    # load1 shares the server's 2 CPUs, load2 is elsewhere; the machine: Nginx 1.0 + load1 0.92 + harness + other.
    runs = [sampled_run(server=1.0, loadgen=[0.92, 0.92], busy=2.0, colocated=(True, False)) for _ in range(3)]
    assert runs[0].sample["other_cores"] == pytest.approx(2.0 - 1.0 - 0.92 - 0.01, abs=0.002)
    assert runs[0].sample["loadgen_cores"] == pytest.approx(1.84, abs=0.002)
    assert limits(sampled_record("nginx", runs, workers=2), TWO_CPUS)[0] == CLIENT_BOUND  # some host saturated


def test_the_verdicts_keep_the_warm_ups_and_add_noise_and_exhausted_requests():
    runs = [pinned_run(server=0.5, loadgen=0.3) for _ in range(3)]
    runs[1].req_per_s *= 1.5
    runs[2].sample["exhausted"] = True
    record = sampled_record("nginx", runs)
    record.verdicts = ["warm-up unstable"]
    assert judged(record, PINNED, cv_threshold=0.05) == ["warm-up unstable", "noisy", EXHAUSTED]


def test_server_capacity_is_its_workers_on_its_cpus_and_what_the_rest_left_idle():
    full = sampled_run(server=1.0, loadgen=0.95, busy=1.97).sample
    assert server_capacity(full, 2, TWO_CPUS) == pytest.approx(1.03, abs=0.002)  # idle 0.03 beside its 1.0
    shared = pinned_run(server=0.5, loadgen=0.6, other_on_server=0.3).sample
    assert server_capacity(shared, 2, PINNED) == pytest.approx(0.7, abs=0.002)  # its one CPU, less what others took
    assert server_capacity({"server_cores": 0.4}, 4, TWO_CPUS) == 2.0  # a sample without the machine's figures
