"""The Twisted kind: its variants (interpreter × mode × resource × version), and real servers on two releases."""
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from support import TINY, free_port, nginx_cell
from support import settings as support_settings

from bench import ratios
from bench.errors import BenchError
from bench.hosts import LocalHost
from bench.measure import loadgens, matrix, servers
from bench.measure.loading import Loader
from bench.measure.runner import Runner
from bench.measure.servers.twisted import Environments
from bench.records import Status, Variant
from bench.standalone.events import read_events

TWISTED = servers.kind("twisted")
PINNED = {"26.10.0": "3.10", "26.4.0": "3.9", "24.3.0": "3.8", "22.10.0": "3.7.1"}  # as setup.twisted pins them
# Debian's PyPy (Python 3.9) with three releases set up, CPython 3.11 with two
FOUND = Environments(pythons={("pypy", "22.10.0"): "/p/pypy-22.10.0", ("pypy", "24.3.0"): "/p/pypy-24.3.0",
                              ("pypy", "26.4.0"): "/p/pypy-26.4.0", ("cpython", "26.4.0"): "/p/cpython-26.4.0",
                              ("cpython", "26.10.0"): "/p/cpython-26.10.0"},
                     python_versions={"pypy": "3.9.16", "cpython": "3.11.2"})
# The tests' own environments, one per release, kept between runs.
VENVS = Path(os.environ.get("TWISTED_LAB_TEST_CACHE", "~/.cache/twisted-lab-tests")).expanduser() / "venvs"


def chosen(**change):
    """The options the kind reads, as `inv bench` resolves them."""
    return SimpleNamespace(**{"interpreters": ("pypy", "cpython"), "modes": ("shared",), "resources": ("fixed",),
                              "twisted": (), "twisted_python": PINNED, **change})


def test_without_versions_each_interpreter_runs_the_newest_set_up():
    assert [tuple(v.values()) for v in TWISTED.variants(chosen(), FOUND)] == [
        ("pypy", "shared", "fixed", "26.4.0"), ("cpython", "shared", "fixed", "26.10.0")]


def test_each_version_asked_for_is_a_variant_on_each_interpreter():
    variants = TWISTED.variants(chosen(interpreters=("pypy",), twisted=("22.10.0", "24.3.0", "26.4.0"),
                                       resources=("fixed", "file")), FOUND)
    assert [(v["twisted"], v["resource"]) for v in variants] == [
        ("22.10.0", "fixed"), ("22.10.0", "file"), ("24.3.0", "fixed"), ("24.3.0", "file"), ("26.4.0", "fixed"),
        ("26.4.0", "file")]


@pytest.mark.parametrize("twisted, message", [
    (("26.4.0", "26.10.0"), r"^Twisted 26.10.0 needs Python >= 3.10, and pypy is Python 3.9.16: drop 26.10.0 from "
                            r"--twisted \(bench.twisted\), or pypy from --interpreters$"),
    (("24.3.0",), r"^Twisted 24.3.0 is not set up for cpython on the server host: run `inv setup --twisted 24.3.0`$"),
    (("26.4",), r"^Twisted 26.4 is not set up for pypy"),
    (("26.4.0; rm -rf /",), r"^Twisted version '26.4.0; rm -rf /' is no version"),
])
def test_a_version_an_interpreter_cannot_have_is_refused_in_one_line_before_anything_runs(twisted, message):
    with pytest.raises(BenchError, match=message):
        TWISTED.variants(chosen(twisted=twisted), FOUND)


def test_an_interpreter_with_nothing_set_up_has_no_variant_and_the_finder_says_so(tmp_path):
    said = []
    found = TWISTED.find(LocalHost(), SimpleNamespace(prefix=str(tmp_path), interpreters=("pypy", "cpython")), said.append)
    assert [name for name, _ in found.pythons] == ["cpython"]  # this harness's own CPython stands in
    assert said == ["note: no pypy environment on local: its Twisted cells are skipped (run `inv setup`)"]
    assert {v["interpreter"] for v in TWISTED.variants(chosen(), found)} == {"cpython"}


@pytest.mark.parametrize("change, message", [
    ({"interpreters": ("jython",)}, "unknown interpreter jython"),
    ({"modes": ("forked",)}, "unknown mode forked"),
    ({"resources": ("blob",)}, "unknown resource blob"),
    ({"resources": ()}, "no resource chosen"),
])
def test_bad_choices_are_refused_with_what_to_do(change, message):
    with pytest.raises(BenchError, match=message):
        TWISTED.variants(chosen(**change), FOUND)


def test_single_mode_runs_one_worker():
    assert TWISTED.workers(Variant(mode="single"), 4) == 1 and TWISTED.workers(Variant(mode="reuseport"), 4) == 4


# -- real servers on two releases --------------------------------------------------------

def release_python(version: str) -> str:
    """A CPython environment with Twisted ``version`` from the package index, made once and kept."""
    venv = VENVS / f"cpython-{version}"
    python = venv / "bin" / "python"
    if not (venv / ".complete").exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, capture_output=True)
        done = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                               f"twisted=={version}"], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot install Twisted {version} from the package index: {done.stderr.strip()[-200:]}")
        (venv / ".complete").write_text("")
    return str(python)


@pytest.fixture(scope="module")
def releases():
    return {version: release_python(version) for version in ("22.10.0", "26.4.0")}


def test_two_twisted_releases_serve_in_one_case_beside_nginx(releases, tmp_path):
    """server.py on Twisted 22.10.0 and 26.4.0, each a cell of the same case: started, their bytes checked, loaded
    in paired rounds with Nginx, stopped; each log says which Twisted served."""
    host = LocalHost()
    generator, binary = loadgens.detect(host, "wrk", ["wrk"], [])
    found = Environments(pythons={("cpython", version): python for version, python in releases.items()})
    runner = Runner(servers.Rig(server=host, loaders=(Loader(host, generator, binary),), address="127.0.0.1",
                                found={"twisted": found, "nginx": "nginx"}, server_cpus=os.cpu_count()),
                    support_settings(tmp_path, port=free_port(3), repeats=2, max_repeats=2), tmp_path / "run")
    try:
        runner.prepare([40], ports=3)
        variants = TWISTED.variants(chosen(interpreters=("cpython",), twisted=tuple(releases)), found)
        cells = [nginx_cell(workers=1)] + matrix.plan(servers=[(TWISTED, variants)], payloads=(40,),
                                                      keepalive=(True,), workers=(1,), loadgen="wrk",
                                                      profile=TINY)
        base, *versions = runner.measure_case(cells, group="releases")
    finally:
        runner.cleanup()
    for record, version in zip(versions, releases):
        assert record.status is Status.OK and len(record.numbers) == 2, record.reasons
        assert record.verify == {"status": 200, "length": 40, "sha256": servers.digest(40)}
        assert record.server_command.startswith(releases[version] + " ")
        (listening,) = [e for e in read_events((runner.run_dir / record.server_log).read_text())
                        if e["event"] == "listening"]
        assert listening["twisted"] == version
        assert ratios.ratio(record, base).low > 0
    assert ratios.paired(*versions) and ratios.ratio(*versions).n == 2  # the releases against each other too

