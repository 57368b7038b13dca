"""Planning what to install: which Twisted, which PyPy tarball, which weighttp."""
import pytest
from provision_fixtures import setup_config

from bench.errors import BenchError
from bench.setup import tools
from bench.setup.tarballs import Pin, Unavailable

PINS = setup_config("/p", "/c")


@pytest.mark.parametrize("python, twisted", [
    ("3.9.16", "26.4.0"),     # Debian 12's PyPy
    ("3.10.14", "26.10.0"),   # PyPy 7.3.17
    ("3.11.2", "26.10.0"),
    ("3.13.0", "26.10.0"),
])
def test_twisted_for_each_interpreter(python, twisted):
    version, pin = tools.twisted_for(PINS["twisted"], python)
    assert version == twisted and pin.file == f"twisted-{twisted}.tar.gz"


def test_twisted_picks_the_newest_whatever_the_order():
    releases = list(reversed(PINS["twisted"]))
    assert tools.twisted_for(releases, "3.12.1")[0] == "26.10.0"


def test_no_twisted_for_an_old_python():
    with pytest.raises(BenchError, match=r"no pinned Twisted supports Python 3.6.9 \(the oldest needs 3.7.1\)"):
        tools.twisted_for(PINS["twisted"], "3.6.9")


def test_each_twisted_version_asked_for_gets_its_pin():
    found = tools.twisted_releases(PINS["twisted"], "pypy", "3.9.16", ("22.10.0", "24.3.0", "26.4.0"))
    assert [(version, pin.file) for version, pin in found] == [
        ("22.10.0", "Twisted-22.10.0.tar.gz"), ("24.3.0", "twisted-24.3.0.tar.gz"), ("26.4.0", "twisted-26.4.0.tar.gz")]
    assert [version for version, _ in tools.twisted_releases(PINS["twisted"], "pypy", "3.9.16", ())] == ["26.4.0"]


@pytest.mark.parametrize("wanted, message", [
    (("26.4.0", "26.10.0"), r"^Twisted 26.10.0 needs Python >= 3.10, and pypy is Python 3.9.16: drop 26.10.0 from "
                            r"--twisted \(bench.twisted\)"),
    (("25.5.0",), r"^Twisted 25.5.0 is not pinned in setup.twisted \(pinned: 26.10.0, 26.4.0, 24.3.0, 22.10.0\)"),
])
def test_a_twisted_version_an_interpreter_cannot_have_is_refused_in_one_line(wanted, message):
    with pytest.raises(BenchError, match=message) as refused:
        tools.twisted_releases(PINS["twisted"], "pypy", "3.9.16", wanted)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("arch, file", [
    ("x86_64", "pypy3.10-v7.3.17-linux64.tar.bz2"),
    ("aarch64", "pypy3.10-v7.3.17-aarch64.tar.bz2"),
])
def test_pypy_tarball_per_architecture(arch, file):
    assert tools.pypy_pin(PINS["pypy"], arch).file == file


def test_an_unsupported_architecture_is_named():
    with pytest.raises(Unavailable, match=r"no PyPy tarball is pinned for the riscv64 architecture \(pinned: x86_64, aarch64\)"):
        tools.pypy_pin(PINS["pypy"], "riscv64")


def test_weighttp_release_defaults_to_05():
    version, release, pin = tools.weighttp_release(PINS["weighttp"])
    assert version == "0.5" and pin.file == "weighttp-0.5.tar.gz" and "meson" in release["build"][0]


@pytest.mark.parametrize("spec, message", [
    ({"version": "0.6", "releases": {"0.5": {}}}, "pins only 0.5"),
    ({"version": 0.5, "releases": {"0.5": {"url": "http://x/w.tgz", "sha256": "0" * 64}}}, "no build commands"),
])
def test_weighttp_release_errors(spec, message):
    with pytest.raises(BenchError, match=message):
        tools.weighttp_release(spec)


@pytest.mark.parametrize("text, version", [
    ("nginx version: nginx/1.22.1", "1.22.1"),
    ("wrk debian/4.1.0-3+b2 [epoll] Copyright (C) 2012 Will Glozer", "4.1.0"),
    ("\nweighttp 0.5 - a lightweight and simple webserver benchmarking tool\n", "0.5"),
    ("no digits here", None),
])
def test_first_version(text, version):
    assert tools.first_version(text) == version


def test_fallback_source_says_what_to_fetch_where():
    pin = Pin("http://example.org/w-0.5.tar.gz", "0" * 64, "w-0.5.tar.gz")
    source = tools.fallback_source(pin, "/cache", "offline", instead="wrk")
    assert source == {"kind": "fallback", "reason": "offline", "instead": "wrk",
                      "fetch": {"url": pin.url, "into": "/cache", "file": "w-0.5.tar.gz"}}
    assert "fetch" not in tools.fallback_source(None, "/cache", "no pin", package="pypy3")


def test_keys_of_a_tool():
    entries = {"pypy": 1, "twisted-pypy": 2, "twisted-pypy-26.4.0": 2, "twisted-pypy-22.10.0": 2, "cpython": 3,
               "twisted-cpython-26.10.0": 4, "weighttp": 5}
    assert tools.keys("pypy", entries) == ["pypy", "twisted-pypy", "twisted-pypy-26.4.0", "twisted-pypy-22.10.0"]
    assert tools.keys("weighttp", entries) == ["weighttp"]
    assert tools.keys("nginx", entries) == []
