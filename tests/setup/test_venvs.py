"""Which Twisted each interpreter's environments get: the versions asked for, else the newest its Python meets."""
import pytest
from provision_fixtures import setup_config

from bench.errors import BenchError
from bench.setup import venvs

PINS = setup_config("/p", "/c")


@pytest.mark.parametrize("python, twisted", [
    ("3.9.16", "26.4.0"),     # Debian 12's PyPy
    ("3.10.14", "26.10.0"),   # PyPy 7.3.17
    ("3.11.2", "26.10.0"),
    ("3.13.0", "26.10.0"),
])
def test_twisted_for_each_interpreter(python, twisted):
    version, pin = venvs.twisted_for(PINS["twisted"], python)
    assert version == twisted and pin.file == f"twisted-{twisted}.tar.gz"


def test_twisted_picks_the_newest_whatever_the_order():
    releases = list(reversed(PINS["twisted"]))
    assert venvs.twisted_for(releases, "3.12.1")[0] == "26.10.0"


def test_no_twisted_for_an_old_python():
    with pytest.raises(BenchError, match=r"no pinned Twisted supports Python 3.6.9 \(the oldest needs 3.7.1\)"):
        venvs.twisted_for(PINS["twisted"], "3.6.9")


def test_each_twisted_version_asked_for_gets_its_pin():
    found = venvs.twisted_releases(PINS["twisted"], "pypy", "3.9.16", ("22.10.0", "24.3.0", "26.4.0"))
    assert [(version, pin.file) for version, pin in found] == [
        ("22.10.0", "Twisted-22.10.0.tar.gz"), ("24.3.0", "twisted-24.3.0.tar.gz"), ("26.4.0", "twisted-26.4.0.tar.gz")]
    assert [version for version, _ in venvs.twisted_releases(PINS["twisted"], "pypy", "3.9.16", ())] == ["26.4.0"]


@pytest.mark.parametrize("wanted, message", [
    (("26.4.0", "26.10.0"), r"^Twisted 26.10.0 needs Python >= 3.10, and pypy is Python 3.9.16: drop 26.10.0 from "
                            r"--twisted \(bench.twisted\)"),
    (("25.5.0",), r"^Twisted 25.5.0 is not pinned in setup.twisted \(pinned: 26.10.0, 26.4.0, 24.3.0, 22.10.0\)"),
])
def test_a_twisted_version_an_interpreter_cannot_have_is_refused_in_one_line(wanted, message):
    with pytest.raises(BenchError, match=message) as refused:
        venvs.twisted_releases(PINS["twisted"], "pypy", "3.9.16", wanted)
    assert "\n" not in str(refused.value)
