"""The tune tests' fixtures: a network namespace, a test root folder, and a guard that
every test leaves the machine's own sysctls as they were."""
import secrets
import subprocess

import pytest
from tune_support import (
    COMMON_SESSION,
    LIMITS_CONF,
    SSHD_PAM,
    machine_values,
    needs_netns,
)


@pytest.fixture
def netns():
    needs_netns()
    name = f"tune-{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    yield name
    subprocess.run(["ip", "netns", "del", name], check=True)


@pytest.fixture
def root(tmp_path):
    """A test root folder with Debian-like PAM files and limits.conf."""
    folder = tmp_path / "root"
    for relative, text in (("etc/pam.d/common-session", COMMON_SESSION),
                           ("etc/pam.d/common-session-noninteractive", COMMON_SESSION),
                           ("etc/pam.d/sshd", SSHD_PAM), ("etc/security/limits.conf", LIMITS_CONF)):
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_text(text)
    return folder


@pytest.fixture
def machine_unchanged():
    """Every global key, and the root namespace's net.* keys, are the same after each test
    of a module that asks for it (the profile parser's tests touch no host)."""
    before = machine_values()
    yield
    assert machine_values() == before
