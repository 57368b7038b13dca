"""The answer table: each ratio with its interval, its rounds, whether it met its target, and who held whom back."""
from dataclasses import replace
from pathlib import Path

import pytest
from support import constructed_record

from bench.envfile import roles
from bench import ratios
from bench.records import ROUND_CAP, TARGET, TIME_CAP, Status, read_records
from bench.report import headline

NGINX = roles({})  # a run that did not name its baseline: Nginx

FIXTURE = Path(__file__).parent / "fixtures" / "report"


def answer_rows(section):
    """The answer table's Twisted rows: name -> its cells (ratio, per core, for each case)."""
    lines = "\n".join(section).splitlines()
    return {line.split("|")[1].strip(): [part.strip() for part in line.split("|")[2:-1]]
            for line in lines if line.startswith("| `twisted")}


def case(twisted_rates, nginx_rates, ended=None, target=0.05, seconds=None, verdicts=((), ())):
    """A paired case of one Twisted configuration and Nginx, its rounds ended as ``ended`` (None: not recorded)."""
    twisted = constructed_record("twisted", 2, twisted_rates, verdicts=verdicts[0])
    nginx = constructed_record("nginx", 2, nginx_rates, verdicts=verdicts[1])
    for record in (twisted, nginx):
        record.group = "case"
        for number, run in enumerate(record.measured):
            run.round = number
        if ended:
            record.stopping = {"rounds": len(twisted_rates), "ended": ended, "target": target,
                               "seconds": seconds or 5.0 * len(twisted_rates), "confidence": 0.998}
    return [nginx, twisted]


NARROW = ([60.0, 60.5, 59.6, 60.2, 59.9, 60.3], [100.0] * 6)
WIDE = ([60.0, 66.0, 55.0, 63.0, 57.0, 65.0, 54.0, 62.0, 58.0], [100.0] * 9)


def cell(records) -> str:
    (parts,) = answer_rows(headline.answer_section(records, NGINX)).values()
    return parts[0]


def test_the_answer_table_puts_twisted_against_nginx_per_case():
    records = read_records(FIXTURE / "results.jsonl")
    rows = answer_rows(headline.answer_section(records, NGINX))
    two = [r for r in records if r.cell.workers == 2 and r.cell.payload == 40]
    nginx, twisted = sorted(two, key=lambda r: r.cell.server != "nginx")
    interval = ratios.ratio(twisted, nginx)
    assert rows["`twisted/cpython/shared/fixed` ×2"][0] == (
        f"{interval.centre:.2f} ({interval.low:.2f}–{interval.high:.2f}) n={interval.n}")
    assert rows["`twisted/cpython/shared/fixed` ×1"][2:] == ["—", "—"]  # 10000 B: Twisted flagged, Nginx failed


def test_a_ratio_that_met_its_target_shows_its_rounds_a_tick_and_the_interval_it_stopped_on():
    records = case(*NARROW, ended=TARGET)
    shown = ratios.ratio(records[1], records[0])
    assert shown.confidence == pytest.approx(0.998)
    assert cell(records) == f"{shown.centre:.2f} ({shown.low:.2f}–{shown.high:.2f}) n=6 ✓"


def test_a_ratio_a_cap_ended_short_of_its_target_says_so_in_one_line():
    records = case(*WIDE, ended=TIME_CAP, seconds=47.5)
    shown = ratios.ratio(records[1], records[0])
    assert shown.confidence == 0.95 and shown.half_width > 0.05
    assert cell(records) == f"{shown.centre:.2f} ({shown.low:.2f}–{shown.high:.2f}) n=9, cap"
    section = headline.answer_section(records, NGINX)
    short = [line for line in section if line.startswith("Short of ±5%")]
    assert len(short) == 1
    assert f"keep-alive 40 B ×2 ±{shown.half_width:.1%} after 9 rounds (time cap; about " in short[0]
    # a round cap that came with the interval within the target still shows the tick, and no line
    narrow = case(*NARROW, ended=ROUND_CAP)
    assert cell(narrow).endswith("n=6 ✓")
    assert not [line for line in headline.answer_section(narrow, NGINX) if line.startswith("Short of")]


def test_a_run_that_did_not_record_how_its_rounds_ended_shows_only_n():
    assert cell(case(*WIDE)).endswith(") n=9")


def test_one_round_is_a_ratio_without_an_interval():
    shown = cell(case([61.0], [100.0], ended=ROUND_CAP))
    assert shown == "0.61 n=1: no interval"
    assert "(0.61–0.61)" not in "\n".join(headline.answer_section(case([61.0], [100.0], ended=ROUND_CAP), NGINX))


@pytest.mark.parametrize("twisted, nginx, prefix, suffix", [
    ((), ("client-bound",), "≤ ", ""),  # Nginx held back: its req/s a lower bound, the ratio an upper one
    ((), ("client-bound", "both saturated"), "≤ ", ""),
    (("client-bound",), (), "≥ ", ""),
    (("client-bound",), ("client-bound", "both saturated"), "", " *"),  # both held back: no direction
    ((), ("machine-bound",), "", " †"),
    (("client-bound", "machine-bound"), (), "≥ ", " †"),
    ((), (), "", ""),
])
def test_who_held_whom_back_marks_the_ratio(twisted, nginx, prefix, suffix):
    shown = cell(case(*NARROW, ended=TARGET, verdicts=(twisted, nginx)))
    assert shown.startswith(prefix + "0.") and shown.endswith("n=6 ✓" + suffix)


def test_a_flagged_side_gives_no_ratio():
    records = case(*NARROW, ended=TARGET)
    records[0] = replace(records[0], status=Status.FLAGGED)
    assert answer_rows(headline.answer_section(records, NGINX))["`twisted/pypy/shared/fixed`"] == ["—", "—"]


def test_the_text_says_what_the_interval_and_the_marks_are():
    text = "\n".join(headline.answer_section(case(*NARROW, ended=TARGET), NGINX))
    assert "bootstrap" not in text and "t interval on the logs of the per-round ratios" in text
    assert "✓: the interval is within ±5% of the ratio" in text and "99.8%" in text
    assert "the ratio is an upper bound" in text and "no direction can be given" in text
    assert "assumes req/s grows in proportion to cores, which nothing here measured" in text
    assert "sets that aside" not in text


def test_the_round_rate_is_shown_under_the_table():
    records = case(*WIDE, ended=TIME_CAP, seconds=45.0) + [
        replace(record, group="other", cell=replace(record.cell, payload=10000),
                stopping={**record.stopping, "rounds": 6, "seconds": 33.0})
        for record in case(*NARROW, ended=TARGET)]
    (line,) = [line for line in headline.answer_section(records, NGINX) if line.startswith("Rounds:")]
    assert line == "Rounds: 6–9 per case (7.5 on average over 2 cases), 5.2 s a round."
