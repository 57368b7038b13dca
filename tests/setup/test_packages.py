"""Distribution packages: parsing dpkg and os-release, and the real dpkg/apt here."""
import os
import shutil
from pathlib import Path

import pytest

from bench.hosts import LocalHost
from bench.setup import packages

DEBIAN = shutil.which("dpkg-query") is not None


@pytest.mark.parametrize("text, debian", [
    ('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n', True),
    ("ID=ubuntu\nID_LIKE=debian\n", True),
    ('ID=linuxmint\nID_LIKE="ubuntu debian"\n', True),
    ('ID="fedora"\n', False),
    ("ID=arch\n", False),
    ("", False),
])
def test_debian_like(text, debian):
    assert packages.is_debian_like(packages.parse_os_release(text)) is debian


def test_parse_os_release_strips_quotes():
    fields = packages.parse_os_release('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_ID=\'12\'\n# c\n')
    assert fields == {"PRETTY_NAME": "Debian GNU/Linux 12 (bookworm)", "VERSION_ID": "12"}


def test_parse_status_keeps_only_installed():
    output = ("nginx-light\tinstalled\t1.22.1-9+deb12u11\n"
              "wrk\tconfig-files\t4.1.0-3\n"
              "libev-dev\tnot-installed\t\n"
              "garbage line\n")
    assert packages.parse_status(output) == {"nginx-light": "1.22.1-9+deb12u11"}


@pytest.mark.parametrize("output, update", [
    ("E: Unable to locate package weighttp\n", True),
    ("E: Package 'pypy3' has no installation candidate\n", True),
    ("Err:1 http://deb.debian.org/debian bookworm/main amd64 wrk amd64 4.1.0-3\n  404  Not Found\n", True),
    ("E: Could not get lock /var/lib/dpkg/lock-frontend\n", False),
])
def test_needs_update(output, update):
    assert packages.needs_update(output) is update


@pytest.mark.skipif(not DEBIAN, reason="needs dpkg")
def test_installed_and_missing_on_this_machine():
    host = LocalHost()
    found = packages.installed(host, ["wrk", "twisted-lab-no-such-package"])
    assert list(found) == ["wrk"] and found["wrk"][0].isdigit()
    assert packages.missing(host, ["wrk", "twisted-lab-no-such-package"]) == ["twisted-lab-no-such-package"]
    assert packages.installed(host, []) == {}


@pytest.mark.skipif(not DEBIAN or os.geteuid() != 0 or not packages.installed(LocalHost(), ["wrk"]),
                    reason="needs root, apt and wrk installed")
def test_install_of_an_installed_package_leaves_policy_rc_d_as_it_was():
    policy = Path(packages.POLICY)
    before = policy.read_bytes() if policy.exists() else None
    said = []
    packages.install(LocalHost(), ["wrk"], said.append)
    assert said == ["apt-get install wrk"]
    assert (policy.read_bytes() if policy.exists() else None) == before
