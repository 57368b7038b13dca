"""A kind's variants side by side: Twisted releases (and interpreters) against the first, from paired rounds."""
import math

from support import constructed_record

from bench.envfile import roles
from bench.report.variants import variants_section, varying


def twisted(version, rates, interpreter="pypy", payload=40, verdicts=()):
    record = constructed_record("twisted", 2, rates, payload=payload, verdicts=verdicts, variant={
        "interpreter": interpreter, "mode": "shared", "resource": "fixed", "twisted": version})
    record.group = f"case-{payload}"
    for number, run in enumerate(record.measured):
        run.round = number
    return record


def table(lines, heading):
    """The rows of the table under ``heading``: first cell -> the others."""
    lines, rows = "\n".join(lines).splitlines(), []
    for line in lines[lines.index(heading) + 1:]:
        if line.startswith("|"):
            rows.append(line)
        elif rows:
            break
    return {row.split("|")[1].strip(): [cell.strip() for cell in row.split("|")[2:-1]] for row in rows[2:]}


def test_each_release_against_the_first_round_by_round():
    old = [40_000.0, 44_000.0, 38_000.0, 42_000.0, 41_000.0, 39_000.0]
    drift = [1.0, 1.1, 0.95, 1.05, 1.02, 0.97]  # the machine's drift, shared by both in a round: it cancels
    newer = [1.3 * rate * (1 + 0.01 * (-1) ** i) for i, rate in enumerate(old)]
    records = [constructed_record("nginx", 2, [90_000.0 * d for d in drift]), twisted("22.10.0", old),
               twisted("26.4.0", newer)]
    lines = variants_section(records, roles({}))
    rows = table(lines, "### Twisted's release: each against 22.10.0")
    assert list(rows) == ["26.4.0 ÷ 22.10.0 (pypy/shared/fixed)"]
    centre = math.exp(sum(math.log(n / o) for n, o in zip(newer, old)) / len(old))
    words = rows["26.4.0 ÷ 22.10.0 (pypy/shared/fixed)"][0]
    assert words.startswith(f"{centre:.2f} (1.2") and words.endswith("n=6")


def test_a_held_back_first_release_makes_the_ratio_an_upper_bound_and_a_flagged_cell_no_figure():
    records = [twisted("22.10.0", [40_000.0, 41_000.0, 39_000.0], verdicts=["client-bound"]),
               twisted("24.3.0", [42_000.0, 43_000.0, 41_000.0]), twisted("26.4.0", [50_000.0] * 3)]
    records[2].status = records[2].status.__class__("flagged")
    rows = table(variants_section(records, roles({})), "### Twisted's release: each against 22.10.0")
    assert rows["24.3.0 ÷ 22.10.0 (pypy/shared/fixed)"][0].startswith("≤ 1.05 (")
    assert rows["26.4.0 ÷ 22.10.0 (pypy/shared/fixed)"] == ["—"]


def test_interpreters_pair_only_within_the_same_release_and_case():
    records = [twisted("26.4.0", [50_000.0, 51_000.0, 49_000.0]),
               twisted("26.4.0", [15_000.0, 15_300.0, 14_700.0], interpreter="cpython"),
               twisted("26.4.0", [30_000.0] * 3, payload=10_000)]  # no CPython at 10000 B: no partner, "—"
    assert varying(records) == {"interpreter": ["pypy", "cpython"]}
    rows = table(variants_section(records, roles({})), "### Twisted's interpreter: each against pypy")
    assert rows == {"cpython ÷ pypy (shared/fixed/26.4.0)": ["0.30 (0.30–0.30) n=3", "—"]}


def test_one_value_per_key_is_no_section():
    assert variants_section([twisted("26.4.0", [1.0, 2.0]), constructed_record("nginx", 2, [3.0, 4.0])],
                            roles({})) == []


def test_each_interpreter_on_its_own_newest_release_is_compared_and_says_so():
    """Without --twisted each interpreter runs the newest release it can (PyPy 26.4.0, CPython 26.10.0): the
    interpreters are still set side by side, the row naming the releases, and no separate release table."""
    records = [twisted("26.4.0", [50_000.0, 51_000.0, 49_000.0]),
               twisted("26.10.0", [15_000.0, 15_300.0, 14_700.0], interpreter="cpython")]
    lines = variants_section(records, roles({}))
    assert table(lines, "### Twisted's interpreter: each against pypy") == {
        "cpython ÷ pypy (shared/fixed, twisted 26.10.0 ÷ 26.4.0)": ["0.30 (0.30–0.30) n=3"]}
    assert not any(line.startswith("### Twisted's release") for line in lines)


def test_releases_on_both_interpreters_pair_exactly():
    records = [twisted(version, [rate, rate * 1.01, rate * 0.99], interpreter=interpreter)
               for interpreter, base in (("pypy", 50_000.0), ("cpython", 15_000.0))
               for version, rate in (("24.3.0", base), ("26.4.0", base * 1.2))]
    lines = variants_section(records, roles({}))
    assert set(table(lines, "### Twisted's release: each against 24.3.0")) == {
        "26.4.0 ÷ 24.3.0 (pypy/shared/fixed)", "26.4.0 ÷ 24.3.0 (cpython/shared/fixed)"}
    assert set(table(lines, "### Twisted's interpreter: each against pypy")) == {
        "cpython ÷ pypy (shared/fixed/24.3.0)", "cpython ÷ pypy (shared/fixed/26.4.0)"}
