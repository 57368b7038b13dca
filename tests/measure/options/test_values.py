"""What an option's value may be: a flag's text or invoke.yaml's value parsed, then checked, each kind apart."""
import pytest

from bench.errors import BenchError
from bench.measure.options.values import Choice, CpuList, Many, Maybe, Seconds, Switch, Text, Whole


@pytest.mark.parametrize("kind, raw, value", [
    (Many(Whole(1)), "40,10000", (40, 10000)),
    (Many(Whole(1)), [40, 10000], (40, 10000)),
    (Many(Choice(("nginx", "twisted"), "server")), "nginx, twisted", ("nginx", "twisted")),
    (Many(Switch()), [True, False], (True, False)),
    (Many(Switch()), "yes,off", (True, False)),
    (Many(Whole(1), empty=True), None, ()),
    (Many(Text(), comma=False), "root@a:22", ("root@a:22",)),
    (Many(Text(), comma=False), ["root@a:22", "root@b:22"], ("root@a:22", "root@b:22")),
    (CpuList(), "0,2-3", (0, 2, 3)),
    (CpuList(), 1, (1,)),
    (CpuList(), None, ()),
    (Whole(1), " 7 ", 7),
    (Seconds(3600), "2.5", 2.5),
    (Seconds(3600), "2", 2),
    (Maybe(Whole(1)), None, None),
])
def test_a_value_is_parsed_to_its_kind(kind, raw, value):
    assert kind.parse(raw, "--x") == value
    kind.check(value, "--x")


@pytest.mark.parametrize("kind, raw, message", [
    (Many(Whole(1)), "40,big", "--x must be a whole number, not 'big'"),
    (Whole(1), 3.5, "--x must be a whole number, not 3.5"),
    (Whole(1), True, "--x must be a whole number, not True"),
    (Seconds(3600), "soon", "--x must be a number of seconds, not 'soon'"),
    (Switch(), "maybe", "--x must be true or false, not 'maybe'"),
    (Text(), 5, "--x must be text, not 5"),
    (CpuList(), "one", "bad CPU list 'one'"),
])
def test_what_cannot_be_parsed_is_one_line(kind, raw, message):
    with pytest.raises(BenchError, match=None) as caught:
        kind.parse(raw, "--x")
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize("kind, value, message", [
    (Whole(1, 100, "rounds"), 0, "--x 0 is out of range: choose 1 to 100 rounds"),
    (Whole(1, None, "thread"), 0, "--x 0 is out of range: give at least 1 thread"),
    (Whole(1, 65535), 70000, "--x 70000 is out of range: choose 1 to 65535"),
    (Seconds(3600), 0, "--x 0 is out of range: choose more than 0 and at most 3600 seconds"),
    (Seconds(3600), float("nan"), "--x nan is out of range"),
    (Seconds(3600), float("inf"), "--x inf is out of range"),
    (Choice(("a", "b"), "letter"), "c", "unknown letter 'c' (--x): choose from a, b"),
    (Many(Choice(("a", "b"), "letter")), (), "--x is empty: give at least one of a, b"),
    (Many(Whole(1)), [1], "--x is [1], which is not a list of int"),
    (Many(Switch()), ("yes",), "--x is ('yes',), which is not a list of bool"),
    (Whole(1), True, "--x is True, which is not int"),
    (Maybe(Text()), 5, "--x is 5, which is not str"),
])
def test_a_value_out_of_its_bounds_is_one_line(kind, value, message):
    with pytest.raises(BenchError) as caught:
        kind.check(value, "--x")
    assert str(caught.value).startswith(message)


def test_choices_from_invoke_yaml_are_checked_only_against_it():
    profiles = Choice(lambda config: tuple(config), "load profile")
    profiles.check("mine", "--profile", config={"mine": {}})
    profiles.check("gone", "option profile_name")  # a stored run's: its profile is stored whole
    with pytest.raises(BenchError, match="unknown load profile 'gone' \\(--profile\\): choose from mine"):
        profiles.check("gone", "--profile", config={"mine": {}})
