"""CPU lists: Linux's syntax in and out, and partitions that keep server and load apart."""
import pytest

from bench.errors import BenchError
from bench.measure.cpus import check_partition, format_cpus, parse_cpus


@pytest.mark.parametrize("text, cpus", [
    ("0", (0,)),
    ("1-3", (1, 2, 3)),
    ("0,2-3", (0, 2, 3)),
    ("3,1,2", (1, 2, 3)),
    ("0-2,1-3", (0, 1, 2, 3)),
    ("5-5", (5,)),
    (" 0 , 2 ", (0, 2)),
    ("127", (127,)),
])
def test_parse_cpus(text, cpus):
    assert parse_cpus(text) == cpus


@pytest.mark.parametrize("text", ["", "x", "1,", ",1", "-1", "3-1", "1-", "1-2-3", "0x1", "1.5", "0;1", "1 2"])
def test_parse_cpus_refuses_with_the_expected_form(text):
    with pytest.raises(BenchError) as error:
        parse_cpus(text)
    assert str(error.value).startswith(f"bad CPU list {text!r}: write it as 0,2-3")
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("cpus, text", [
    ((0,), "0"),
    ((1, 2, 3), "1-3"),
    ((0, 2, 3), "0,2-3"),
    ((3, 0, 2, 2), "0,2-3"),
    ((0, 1, 3, 5, 6, 7), "0-1,3,5-7"),
    ((), ""),
    (range(4), "0-3"),
])
def test_format_cpus(cpus, text):
    assert format_cpus(cpus) == text


@pytest.mark.parametrize("text", ["0", "0-7", "0,2-3,9", "1,3,5"])
def test_format_and_parse_round_trip(text):
    assert format_cpus(parse_cpus(text)) == text


@pytest.mark.parametrize("server, load, online", [
    ((), (), 1),
    ((1,), (0,), 2),
    ((2, 3), (0, 1), 4),
    ((0,), (3,), 4),
])
def test_check_partition_accepts(server, load, online):
    check_partition(server, load, online)


@pytest.mark.parametrize("server, load, online, message", [
    ((1,), (), 2, "--server-cpus needs --load-cpus too: give both, on disjoint CPUs"),
    ((), (0,), 2, "--load-cpus needs --server-cpus too"),
    ((0, 1), (1,), 2, "CPU 1 is in both --server-cpus and --load-cpus: give them disjoint CPUs"),
    ((0, 1, 2), (1, 2), 4, "CPUs 1-2 are in both"),
    ((2,), (0,), 2, "CPU 2 is not on this host, which has 2 CPUs (0-1): pick CPUs below 2"),
    ((1,), (2, 3), 2, "CPUs 2-3 are not on this host"),
])
def test_check_partition_refuses(server, load, online, message):
    with pytest.raises(BenchError) as error:
        check_partition(server, load, online)
    assert str(error.value).startswith(message)
