"""The report's interval covers the true ratio at every round a case can end at, stopping rule included.

Simulated cases run the real stopping rule and the real interval code on records built
as the runner builds them (bench.measure.coverage). The rule is the project's own, from
invoke.yaml. `pytest -s` prints the table `inv coverage` prints.
"""
from dataclasses import dataclass

import pytest
from invoke import Context, Exit
from support import project_config

from bench.measure import coverage, stopping
from bench.measure.options import resolve
from bench.tasks.coverage import coverage as coverage_task

CASES = 1000  # per noise level and cap
LEAST = 0.93  # at every round a case ended at, among MIN_CASES (100) cases or more


def project_rule() -> stopping.Rule:
    options = resolve(project_config(), {})
    return stopping.Rule.of(options.repeats, options.statistics, options.baseline)


def test_the_interval_covers_at_every_round_a_case_ends_at():
    rule = project_rule()
    endings = coverage.simulate_all(rule, cases=CASES, seed=1)
    print("\n" + coverage.table(endings, rule))
    found = coverage.coverage(endings)
    judged = {key: share for key, (cases, share) in found.items() if key[2] is not None and cases >= coverage.MIN_CASES}
    assert {rounds for _, _, rounds in judged} >= {3, 8, 30}
    low = {key: share for key, share in judged.items() if share < LEAST}
    assert low == {}, f"coverage below {LEAST:.0%} at (noise, cap, rounds): {low}"
    assert sum(e.covered for e in endings) / len(endings) >= 0.95
    assert {e.ended for e in endings} == {stopping.TARGET, stopping.TIME_CAP, stopping.ROUND_CAP}


@dataclass(frozen=True)
class FirstNarrowInterval(stopping.Rule):
    """The rule before: the first 95 % interval within the target ends the case, from round 3 on."""

    @property
    def confidence(self) -> float:
        return 0.95


def test_the_simulation_finds_the_rule_that_stopped_at_the_first_narrow_interval():
    rule = FirstNarrowInterval(repeats=3, min_rounds=3, max_repeats=30, max_seconds=50, target=0.05, baseline="nginx")
    found = coverage.coverage(coverage.simulate(rule, 0.03, 30, CASES, seed=1))
    cases, share = found[(0.03, 30, 3)]
    assert cases >= coverage.MIN_CASES and share < 0.85


def test_the_same_seed_gives_the_same_table():
    rule = project_rule()
    first = coverage.table(coverage.simulate_all(rule, cases=20, seed=7, noises=(0.1,), caps=(8,)), rule)
    assert first == coverage.table(coverage.simulate_all(rule, cases=20, seed=7, noises=(0.1,), caps=(8,)), rule)
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in first.splitlines() if line.startswith("| 8")]
    assert [row[:2] for row in rows] == [["8 rounds", "8"], ["8 rounds", "all"], ["8 rounds", "ended on target"]]
    assert rows[0][2].endswith("of 20 (few)") and first.endswith("covered.") and "All 20 cases:" in first


def test_inv_coverage_prints_the_table_and_refuses_no_cases(capsys):
    coverage_task(Context(project_config()), cases=5, seed=3)
    printed = capsys.readouterr().out
    assert printed.startswith("Coverage of the 95 % interval") and "All 45 cases:" in printed
    with pytest.raises(Exit) as refused:
        coverage_task(Context(project_config()), cases=0)
    assert refused.value.code == 1 and "--cases 0" in str(refused.value.message)
