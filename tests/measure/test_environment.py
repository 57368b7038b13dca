"""Environment capture on this machine and on a namespace lab host."""
import os
import platform
import sys
from types import SimpleNamespace

import pytest
from support import HARNESS_TWISTED, environments

from bench.hosts import LocalHost
from bench.measure import servers
from bench.measure.environment import capture_host, machine_identity, parse_facts, same_machine
from bench.records import Variant
from bench.tune.keys import INTEREST

TWISTED, NGINX = servers.kind("twisted"), servers.kind("nginx")
# The options the Twisted kind reads: one interpreter, one configuration.
CPYTHON = SimpleNamespace(interpreters=("cpython",), modes=("shared",), resources=("fixed",), twisted=(), twisted_python={})
PYPY = SimpleNamespace(**{**vars(CPYTHON), "interpreters": ("pypy",)})


def test_parse_facts_keeps_multi_line_values():
    assert parse_facts("@@a\n1\n@@b\nx\ny\n@@c\n") == {"a": "1", "b": "x\ny", "c": ""}


@pytest.mark.parametrize("one, other, same", [
    ({"boot_id": "b1", "machine_id": "m1"}, {"boot_id": "b1", "machine_id": "m1"}, True),
    ({"boot_id": "b1", "machine_id": "m1"}, {"boot_id": "b1", "machine_id": "m2"}, True),  # containers on one kernel
    ({"boot_id": "b1", "machine_id": "m1"}, {"boot_id": "b2", "machine_id": "m1"}, False),  # a cloned VM image
    ({"boot_id": "", "machine_id": "m1"}, {"boot_id": "b2", "machine_id": "m1"}, True),  # no boot id: the machine id
    ({"boot_id": "", "machine_id": ""}, {"boot_id": "b2", "machine_id": "m1"}, None),  # nothing to tell
])
def test_hosts_are_one_machine_when_their_boot_id_says_so(one, other, same):
    assert same_machine(one, other) is same


def test_this_machines_identity_is_its_boot_and_machine_ids():
    identity = machine_identity(LocalHost())
    assert identity["boot_id"] == open("/proc/sys/kernel/random/boot_id").read().strip()
    assert identity["machine_id"] == (open("/etc/machine-id").read().strip() if os.path.exists("/etc/machine-id") else "")
    assert same_machine(identity, machine_identity(LocalHost()))


def check(facts):
    assert facts["cpus"] == os.cpu_count()
    assert facts["kernel"].startswith("Linux ")
    assert facts["cpu_model"]
    assert set(facts["sysctl"]) == set(INTEREST)
    assert facts["sysctl"]["net.core.somaxconn"].isdigit()
    assert int(facts["nofile"]["hard"]) >= 1
    # each Twisted environment in words, from the interpreter itself
    assert facts["servers"]["twisted"] == {
        f"Twisted {HARNESS_TWISTED} on cpython": f"Twisted {HARNESS_TWISTED} on CPython {platform.python_version()}"}


def test_capture_on_this_machine():
    found = environments(cpython=sys.executable, pypy="/bin/false")  # PyPy's is set up, not measured
    facts = capture_host(LocalHost(), role="server", servers=[(TWISTED, found, TWISTED.variants(CPYTHON, found))],
                         loadgen={"tool": "wrk", "path": "wrk", "version": "wrk 4"})
    check(facts)
    assert facts["loadgen"]["tool"] == "wrk"


def test_an_interpreter_without_twisted_is_said_so():
    found = environments(pypy="/bin/false")
    facts = capture_host(LocalHost(), role="server", servers=[(TWISTED, found, TWISTED.variants(PYPY, found))],
                         loadgen=None)
    assert facts["servers"]["twisted"] == {f"Twisted {HARNESS_TWISTED} on pypy": "does not start or lacks Twisted"}


@pytest.mark.lab
def test_capture_on_a_lab_host(lab_connect):
    host = lab_connect("server")
    found = environments(cpython=sys.executable)
    facts = capture_host(host, role="server", servers=[(TWISTED, found, TWISTED.variants(CPYTHON, found)),
                                                       (NGINX, NGINX.find(host, None, print), [Variant()])],
                         loadgen=None)
    check(facts)
    assert facts["name"] == str(host)
    # Its own network namespace: netdev_max_backlog only exists in the initial one.
    assert facts["sysctl"]["net.core.netdev_max_backlog"] is None
    assert facts["servers"]["nginx"]["nginx"][0].isdigit()
