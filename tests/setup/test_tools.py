"""Planning what to install: which PyPy tarball, which load generator, which weighttp."""
import pytest
from provision_fixtures import setup_config

from bench.errors import BenchError
from bench.setup import tools
from bench.setup.tarballs import Pin, Unavailable

PINS = setup_config("/p", "/c")


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
    version, release, pin = tools.pinned_release("weighttp", PINS["weighttp"])
    assert version == "0.5" and pin.file == "weighttp-0.5.tar.gz" and "meson" in release["build"][0]


@pytest.mark.parametrize("spec, message", [
    ({"version": "0.6", "releases": {"0.5": {}}}, "setup.weighttp.version is 0.6, but setup.weighttp.releases pins only 0.5"),
    ({"version": 0.5, "releases": {"0.5": {"url": "http://x/w.tgz", "sha256": "0" * 64}}},
     "setup.weighttp.releases.0.5 has no build commands"),
])
def test_weighttp_release_errors(spec, message):
    with pytest.raises(BenchError, match=message):
        tools.pinned_release("weighttp", spec)


@pytest.mark.parametrize("name, step", [
    ("nginx", tools.distro_tool), ("pypy", tools.pypy), ("cpython", tools.cpython),
    ("weighttp", tools.built_tool), ("wrk", tools.distro_tool), ("h2load", tools.distro_tool),
])
def test_each_load_generator_is_provided_as_its_module_says(name, step):
    assert tools.step(name) is step


def test_a_load_generator_that_cannot_be_built_names_the_next_of_setup_loadgens():
    assert [tools.stand_in(["weighttp", "wrk", "h2load"], name) for name in ("weighttp", "wrk", "h2load")] == [
        "wrk", "h2load", None]


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
