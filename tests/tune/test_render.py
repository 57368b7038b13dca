"""Rendering outcomes: several hosts' exit codes as one."""
import pytest

from bench.tune.render import exit_code

# Every test checks that the machine's own sysctls are as they were.
pytestmark = pytest.mark.usefixtures("machine_unchanged")


def test_several_hosts_give_one_exit_code():
    assert exit_code([0, 0]) == 0
    assert exit_code([0, 2]) == 2
    assert exit_code([2, 1, 0]) == 1
