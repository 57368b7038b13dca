"""The knee of a server's sweep: the highest offered rate it sustained, on constructed steps."""
import pytest
from support import sweep_step as step

from bench.knee import SATURATED, SUSTAINED, Knee, Rule, bound_us, knee, verdict


def test_the_knee_is_the_highest_rate_held_with_p99_under_ten_times_the_lowest():
    steps = [step(1000, p99=800), step(5000, p99=900), step(9000, p99=7900), step(10_000, p99=8000),
             step(11_000, achieved=9900)]
    assert knee(steps, Rule()) == Knee(9000, 8000.0)  # 10 x 800 us; 10k hit it exactly, 11k fell behind
    assert [verdict(s, 8000.0, Rule()) for s in steps][3:] == ["p99 over the bound", "fell behind (90% of the rate)"]


@pytest.mark.parametrize("bad, why", [
    (dict(errored=3), "errors"),
    (dict(failed=10, status={"2xx": 0, "other": 10}, succeeded=0), "non-2xx answers"),
    (dict(succeeded=0, status={}), "nothing answered"),
    (dict(latency_us={}), "no percentiles"),
])
def test_a_step_with_errors_or_no_percentiles_is_never_sustained(bad, why):
    steps = [step(1000), step(2000, **bad)]
    assert verdict(steps[1], 10_000, Rule()) == why
    assert knee(steps, Rule()).rate == 1000


def test_a_saturated_step_the_server_fell_short_at_is_not_used_and_makes_the_knee_a_lower_bound():
    steps = [step(1000, p99=50_000, saturated=True), step(2000, p99=500), step(3000, p99=600),
             step(4000, achieved=3000, saturated=True)]
    assert bound_us(steps, Rule()) == 5000  # from the lowest *usable* step, not the saturated one
    assert verdict(steps[0], 5000, Rule()) == SATURATED and verdict(steps[1], 5000, Rule()) == SUSTAINED
    assert verdict(steps[3], 5000, Rule()) == SATURATED  # short of the rate: the load generator's, or the server's?
    assert knee(steps, Rule()) == Knee(3000, 5000.0, lower_bound=True)
    assert knee(steps[:3], Rule()).lower_bound is False


def test_a_saturated_step_the_server_sustained_counts():
    # A load generator that falls behind sends late and sends less: wrk2 counts both against the server, so a
    # rate held with a saturated load generator was held by the server.
    steps = [step(1000, p99=500), step(2000, p99=600, saturated=True), step(3000, p99=600, saturated=True, achieved=2000)]
    assert verdict(steps[1], 5000, Rule()) == SUSTAINED
    assert knee(steps, Rule()) == Knee(2000, 5000.0, lower_bound=True)
    assert knee(steps[:2], Rule()) == Knee(2000, 5000.0)


def test_an_absolute_bound_and_a_stricter_share_are_the_run_s_settings():
    steps = [step(1000, p99=800), step(2000, achieved=1940, p99=1900), step(3000, p99=2500)]
    assert knee(steps, Rule()).rate == 3000
    assert knee(steps, Rule.of({"p99_ms": 2.0})) == Knee(2000, 2000.0)
    assert knee(steps, Rule.of({"achieved": 0.98, "p99_ms": 2.0})).rate == 1000
    assert Rule.of(None) == Rule() and Rule.of({"unknown": 1}) == Rule()


@pytest.mark.parametrize("steps, why", [
    ([], "not swept"),
    ([step(1000, errored=1)], "no usable step"),
    ([step(1000, achieved=500), step(2000, achieved=600)], "sustained no rate"),
])
def test_no_knee_says_why(steps, why):
    found = knee(steps, Rule())
    assert found.rate is None and found.why_not == why


def test_a_lower_rate_not_held_is_named_beside_the_knee():
    # As one sweep showed: Nginx stalled at 22k (p50 593 ms) and then held 44k to 67k at 1.4-2 ms.
    steps = [step(8900, p99=8500), step(22_000, p99=996_000), step(44_000, p99=3600), step(66_000, p99=5300),
             step(80_000, p99=98_000)]
    assert knee(steps, Rule()) == Knee(66_000, 85_000.0, missed=(22_000,))
