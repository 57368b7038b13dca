"""`inv test` (bench/tasks/testing.py): the README's test command, which installs what the tests need."""
import os
import re
import shutil
import subprocess
import sys

import pytest
from support import PROJECT, project_config

from bench.errors import BenchError
from bench.hosts import LocalHost
from bench.lab.namespaces import TOOLS
from bench.setup import packages
from bench.tasks.testing import pytest_command

TEST_PACKAGES = list(project_config().test.packages)


def readme_commands() -> list[str]:
    """The commands of the README's first block, one per line."""
    block = re.search(r"```sh\n(.*?)```", (PROJECT / "README.md").read_text(), re.S)[1]
    return block.strip().splitlines()


def inv(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=PROJECT, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout)


def test_the_readmes_test_command_is_inv_test_and_exactly_what_ci_runs():
    setup, tests = readme_commands()
    assert setup == "python3 -m pip install -e . && inv setup && inv bench --keepalive"
    assert tests.endswith("&& inv test")
    ci = (PROJECT / ".ci" / "run").read_text()
    assert f"( {tests} ) 2>&1 | tee" in ci
    assert "apt-get" not in ci and "pytest" not in ci  # the command installs and runs it all itself


def test_the_test_packages_hold_every_package_setup_and_the_lab_install():
    pins = project_config().setup
    wanted = {*pins.nginx.packages, *pins.wrk.packages, *pins.pypy.packages, *pins.pypy.fallback.packages,
              *pins.cpython.packages, *(name for release in pins.weighttp.releases.values() for name in release["packages"]),
              *(package for _, package in TOOLS), "sudo"}
    assert wanted <= set(TEST_PACKAGES), wanted - set(TEST_PACKAGES)
    assert len(TEST_PACKAGES) == len(set(TEST_PACKAGES))


@pytest.mark.parametrize("argv, extra", [
    (["inv", "test"], []),
    (["inv", "test", "--", "tests/lab", "-x"], ["tests/lab", "-x"]),
    (["inv", "test", "--", "-k", "a or b"], ["-k", "a or b"]),
    (["inv", "test", "--"], []),
])
def test_pytest_gets_what_follows_the_double_dash(argv, extra):
    assert pytest_command(argv) == [sys.executable, "-m", "pytest", "-q", "-ra", *extra]


@pytest.fixture
def installed():
    lacking = packages.missing(LocalHost(), TEST_PACKAGES)
    if lacking:
        pytest.skip(f"this machine lacks {' '.join(lacking)}: `inv test` installs them")


def test_inv_test_installs_nothing_when_all_is_there_and_passes_pytest_its_args(installed):
    done = inv("test", "--", "tests/test_ratios.py", "-k", "per_round", "-p", "no:cacheprovider")
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^\d+ passed, \d+ deselected in ", done.stdout, re.M), done.stdout
    assert "apt-get" not in done.stdout + done.stderr


def test_inv_test_exits_with_pytests_status(installed):
    done = inv("test", "--", "tests/test_ratios.py", "-k", "no_such_test_here", "-p", "no:cacheprovider")
    assert done.returncode == 5 and "deselected" in done.stdout  # pytest's "no tests ran"


@pytest.mark.skipif(not shutil.which("apt-get") or os.geteuid() != 0, reason="needs apt-get and root")
def test_a_package_apt_cannot_find_is_one_line_and_no_test_runs(tmp_path):
    config = tmp_path / "packages.yaml"
    config.write_text("test:\n  packages: [git, twisted-lab-no-such-package]\n")
    done = inv("-f", str(config), "test", timeout=300)
    assert done.returncode == 1
    assert "apt-get install twisted-lab-no-such-package" in done.stdout  # only what is missing
    assert re.fullmatch(r"error: apt-get could not install twisted-lab-no-such-package on local: [^\n]*"
                        r"Unable to locate package twisted-lab-no-such-package[^\n]*\n", done.stderr), done.stderr
    assert "passed" not in done.stdout


def test_off_debian_the_missing_packages_are_named_in_one_line(tmp_path):
    (tmp_path / "os-release").write_text('ID="fedora"\n')
    with pytest.raises(BenchError, match=r"^the test suite needs wrk sudo \(Debian's names\): install them with "
                                         r"the system's package manager, then run again$"):
        packages.install_here(["wrk", "sudo"], "the test suite", print, os_release=str(tmp_path / "os-release"))


# The machine lacks a tool, as far as the harness can tell: it looks for sshd and /etc/sudoers.d at these
# paths (this shared machine keeps its real ones).
LACKING = {
    "openssh-server": "from bench.lab import namespaces\nnamespaces.SSHD = '/nonexistent/sshd'\n",
    "sudo": "from pathlib import Path\nfrom bench.lab import topology\n"
            "topology.SUDOERS_D = Path('/nonexistent/sudoers.d')\n",
}


@pytest.mark.lab
@pytest.mark.parametrize("lacking, files, reason", [
    ("openssh-server", ["tests/measure/test_remote.py", "tests/lab/test_users.py"],
     "the namespace lab needs openssh-server: `inv lab.up` installs them, or apt-get install them"),
    ("sudo", ["tests/lab/test_users.py"],
     "the lab's user needs /nonexistent/sudoers.d: apt-get install sudo passwd util-linux, or leave out --user"),
])
def test_on_a_machine_without_a_tool_its_tests_skip_saying_so_and_none_errors(tmp_path, lacking, files, reason):
    (tmp_path / "lacking.py").write_text(LACKING[lacking])
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-p", "lacking",
                           *files], cwd=PROJECT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(PROJECT)])})
    assert done.returncode == 0, done.stdout
    assert re.search(r"^\d+ skipped in ", done.stdout, re.M), done.stdout
    skipped = [line for line in done.stdout.splitlines() if line.startswith("SKIPPED")]
    assert skipped and all(line.endswith(reason) for line in skipped), done.stdout
