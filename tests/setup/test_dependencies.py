"""Twisted's dependencies for a lab host, fetched here: which folder, which interpreter, and the
error when this machine has none of the host's kind. (Fetching for real: test_provision's lab test.)"""
import sys

import pytest

from bench.errors import BenchError
from bench.setup import dependencies


@pytest.mark.parametrize("implementation, python, folder", [
    ("PyPy", "3.9.16", "pypy-3.9"), ("CPython", "3.11.2", "cpython-3.11"), ("CPython", "3.10", "cpython-3.10")])
def test_one_folder_per_kind_of_interpreter(implementation, python, folder):
    assert dependencies.folder_name(implementation, python) == folder


def test_this_interpreter_matches_its_own_kind():
    python = ".".join(map(str, sys.version_info[:2]))
    assert dependencies.matching_interpreter(sys.implementation.name.replace("cpython", "CPython"), python)


def test_no_interpreter_of_the_hosts_kind_here_is_one_clear_error(tmp_path):
    with pytest.raises(BenchError) as error:
        dependencies.fetch(tmp_path, "CPython", "2.7.18", "26.4.0", log=lambda line: None)
    message = str(error.value)
    assert message.startswith("the host's CPython 2.7.18 cannot reach the package index, and this machine has no "
                              "CPython 2.7 to fetch Twisted's dependencies with: install one here, or fill ")
    assert f"{tmp_path}/wheels/cpython-2.7/" in message and "pip download twisted==26.4.0 hatchling" in message
    assert "\n" not in message


def test_hashes_skip_the_stamp(tmp_path):
    (tmp_path / "a-1.0-py3-none-any.whl").write_bytes(b"wheel")
    (tmp_path / ".complete-twisted-26.4.0").write_text("")
    assert list(dependencies.hashes(tmp_path)) == ["a-1.0-py3-none-any.whl"]
