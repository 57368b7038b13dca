"""Shared fixtures, and the tests' ending on a signal."""
import signal

import pytest

from bench import lab as namespace_lab

def _interrupted(signum, frame):
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def pytest_configure(config):
    """A CI timeout (SIGTERM) or a closed terminal (SIGHUP) ends the tests as Ctrl-C does: pytest then still runs
    every fixture's teardown (the namespace lab's namespaces and sshds, servers, restored files), where the default
    action of either signal would leave them behind."""
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupted)


# -- the network-namespace lab -------------------------------------------------

@pytest.fixture(scope="session")
def lab_machine():
    """Nothing; skips the test, naming what is missing, on a machine that cannot run the namespace lab."""
    problem = namespace_lab.missing_requirements()
    if problem:
        pytest.skip(problem)


@pytest.fixture(scope="session")
def lab(lab_machine, tmp_path_factory):
    """A two-host lab ("server", "load"), each a namespace with a real sshd; torn down after."""
    root = tmp_path_factory.mktemp("lab")
    running = namespace_lab.up(root)
    try:
        yield running
    finally:
        namespace_lab.down(root)


@pytest.fixture
def lab_connect(lab):
    """``lab_connect(name, **kw)`` -> SSHHost to a lab host; closed after the test."""
    opened = []

    def connect(name, **kw):
        host = namespace_lab.connect(lab.host(name), **kw)
        opened.append(host)
        return host

    yield connect
    for host in opened:
        host.close()
