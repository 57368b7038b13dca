"""bench.hosts.group: one step on several hosts, a failing host recorded while the others go on."""
import pytest

from bench.errors import BenchError
from bench.hosts import LocalHost, on_each


class ClosedLocalHost(LocalHost):
    """This machine, remembering whether it was let go."""

    def __init__(self):
        super().__init__()
        self.closed = False

    def close(self):
        self.closed = True


def test_each_host_gets_the_step_and_a_bad_one_does_not_stop_the_rest():
    seen = []
    result = on_each([None, "root@", "local"], lambda host: host.run("echo up").stdout, after_each=seen.append)
    assert [(o.name, o.ok, o.value) for o in result.outcomes] == [
        ("local", True, "up\n"), ("root@", False, None), ("local", True, "up\n")]
    assert result.failed[0].error.startswith("bad host 'root@'")
    assert [o.name for o in result.succeeded] == ["local", "local"]
    assert seen == list(result.outcomes)  # as each host finished, in order


def test_an_unreachable_host_is_that_hosts_failure():
    result = on_each(["root@127.0.0.1:1", None], lambda host: host.name)
    assert [o.name for o in result.failed] == ["root@127.0.0.1:1"]
    assert "unreachable" in result.failed[0].error and "check the address" in result.failed[0].error
    assert [o.value for o in result.succeeded] == ["local"]


def test_a_failing_step_is_recorded_and_the_host_still_closed():
    opened = []

    def connect(target):
        opened.append(ClosedLocalHost())
        return opened[-1]

    def step(host):
        raise BenchError(f"{host.name}: nginx did not start")

    result = on_each([None, None], step, connect=connect)
    assert [o.error for o in result.failed] == ["local: nginx did not start"] * 2
    assert [host.closed for host in opened] == [True, True]


def test_ctrl_c_stops_every_host_after_closing_the_current_one():
    opened = []

    def connect(target):
        opened.append(ClosedLocalHost())
        return opened[-1]

    def step(host):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        on_each([None, None], step, connect=connect)
    assert [host.closed for host in opened] == [True]
