"""`inv setup` end to end: tarballs made here, served on loopback, built and installed
for real, locally and on a lab host over SSH."""
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from invoke import Config, Context
from provision_fixtures import (
    MAKE_BUILD,
    PROJECT,
    FileServer,
    binary_tarball,
    c_program_tarball,
    closed_port_url,
    link_cache,
    pin,
    real_twisted_cache,
    setup_config,
    sha256,
    snapshot,
)

from bench import manifest as bench_manifest
from bench.errors import BenchError
from bench.hosts import LocalHost
from bench.setup import provision
from bench.setup.target import SetupTarget
from bench.tasks.setup import setup as setup_task

BUILDS = shutil.which("cc") and shutil.which("meson") and shutil.which("ninja")
needs_builds = pytest.mark.skipif(not BUILDS, reason="needs cc, meson and ninja")


@pytest.fixture
def www(tmp_path):
    server = FileServer(tmp_path / "www")
    yield server
    server.close()


@pytest.fixture
def setup_dirs(tmp_path):
    """A prefix and an empty cache; the config of invoke.yaml pointed at them."""
    return tmp_path / "prefix", tmp_path / "cache", setup_config(tmp_path / "prefix", tmp_path / "cache")


@pytest.fixture(scope="session")
def twisted_cache():
    try:
        return real_twisted_cache()
    except (RuntimeError, BenchError) as exc:
        pytest.skip(f"cannot fill the Twisted test cache from PyPI: {exc}")


def run(settings, only=None, force=False, host=None):
    said = []
    manifest = provision.setup_host(host or LocalHost(), settings, only=only, force=force, log=said.append)
    return manifest, "\n".join(said)


# -- pure parts ------------------------------------------------------------------

EVERY_TOOL = ("nginx", "pypy", "cpython", "weighttp", "wrk", "h2load", "wrk2")


@pytest.mark.parametrize("text, tools", [
    (None, EVERY_TOOL),
    ("weighttp", ("weighttp",)),
    ("weighttp, pypy", ("pypy", "weighttp")),
    ("h2load,nginx", ("nginx", "h2load")),
])
def test_parse_only(text, tools):
    assert provision.parse_only(text, EVERY_TOOL) == tools


def test_the_tools_are_the_interpreters_nginx_and_setup_loadgens(setup_dirs):
    assert provision.tool_names(setup_dirs[2]) == EVERY_TOOL
    with pytest.raises(BenchError, match="no bench/measure/loadgens/ab.py"):
        provision.tool_names({**setup_dirs[2], "loadgens": ["wrk", "ab"]})


@pytest.mark.parametrize("text", ["weighty", ",", "pypy,nginx2"])
def test_parse_only_rejects_unknown_tools(text):
    with pytest.raises(BenchError, match="choose from nginx, pypy, cpython, weighttp, wrk, h2load"):
        provision.parse_only(text, EVERY_TOOL)


def test_the_server_kinds_named_choose_their_setup_steps(setup_dirs):
    tools = provision.tool_names(setup_dirs[2], ("twisted",))
    assert tools == ("pypy", "cpython", "weighttp", "wrk", "h2load", "wrk2")
    with pytest.raises(BenchError, match="choose from pypy, cpython, weighttp, wrk, h2load"):
        provision.parse_only("nginx", tools)


def test_format_manifest_lists_tools_in_setup_order():
    manifest = {"tools": {
        "weighttp": {"version": None, "path": None, "source": {
            "kind": "fallback", "instead": "wrk", "reason": "offline", "fetch": {"file": "weighttp-0.5.tar.gz"}}},
        "twisted-pypy-26.4.0": {"version": "26.4.0", "path": "/p/venvs/pypy-26.4.0",
                         "source": {"kind": "tarball", "file": "twisted-26.4.0.tar.gz", "sha256": "dbfd0fe1ee409d02" + "0" * 48}},
        "nginx": {"version": "1.22.1", "path": "/usr/sbin/nginx",
                  "source": {"kind": "distro", "package": "nginx-light", "version": "1.22.1-9"}},
        "pypy": {"version": "7.3.11", "path": "/p/venvs/pypy/bin/python",
                 "source": {"kind": "fallback", "package": "pypy3", "version": "7.3.11+dfsg", "reason": "x"}},
    }}
    lines = provision.format_manifest(manifest, EVERY_TOOL)
    assert [line.split()[0] for line in lines] == ["tool", "nginx", "pypy", "twisted-pypy-26.4.0", "weighttp"]
    assert "distro nginx-light 1.22.1-9" in lines[1]
    assert "FALLBACK to pypy3 7.3.11+dfsg (no pinned tarball)" in lines[2]
    assert "tarball twisted-26.4.0.tar.gz (sha256 dbfd0fe1ee40…)" in lines[3]
    assert "FALLBACK to wrk (pinned weighttp-0.5.tar.gz unavailable)" in lines[4]
    assert provision.format_manifest({}) == ["(no tools installed)"]


def test_nothing_installed_reads_as_empty(tmp_path):
    host = LocalHost()
    assert bench_manifest.read_manifest(host, str(tmp_path)) == {}
    assert bench_manifest.environments(host, str(tmp_path)) == {}
    assert bench_manifest.tool_binary(host, str(tmp_path), "weighttp") is None


def test_a_half_made_environment_is_not_an_interpreter(tmp_path):
    venv = tmp_path / "venvs" / "pypy-26.4.0"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(shutil.which("python3"))
    (tmp_path / "venvs" / "pypy").mkdir()  # the layout before Twisted versions: no version, not read
    assert bench_manifest.environments(LocalHost(), str(tmp_path)) == {}
    (venv / bench_manifest.MARKER).write_text("{}")
    assert bench_manifest.environments(LocalHost(), str(tmp_path)) == {("pypy", "26.4.0"): str(venv / "bin" / "python")}


# -- weighttp: download -> verify -> extract -> build -> install ------------------

@needs_builds
def test_weighttp_meson_build_then_a_second_run_changes_nothing(www, setup_dirs):
    prefix, cache, settings = setup_dirs
    tarball = c_program_tarball(www.root, "0.5")
    settings["weighttp"]["releases"]["0.5"].update(pin(www, tarball))  # the pinned meson build, our source

    manifest, said = run(settings, only="weighttp")
    binary = bench_manifest.tool_binary(LocalHost(), str(prefix), "weighttp")
    assert binary == str(prefix / "bin" / "weighttp")
    assert subprocess.run([binary, "-V"], capture_output=True, text=True).stdout.startswith("weighttp 0.5")
    entry = manifest["tools"]["weighttp"]
    assert entry["source"] == {"kind": "tarball", "url": www.url(tarball.name), "sha256": sha256(tarball),
                               "file": tarball.name}
    assert entry["version"] == "0.5" and entry["version_output"].startswith("weighttp 0.5")
    assert json.loads((prefix / "manifest.json").read_text()) == manifest
    assert (cache / tarball.name).read_bytes() == tarball.read_bytes()
    assert "meson install" in (prefix / "logs" / "weighttp-0.5.log").read_text()
    assert sorted(p.name for p in (prefix / "tools").iterdir()) == ["weighttp-0.5"]  # no staging left
    assert list((prefix / "build").iterdir()) == []
    assert "weighttp done (" in said

    before = snapshot(prefix)
    started = time.monotonic()
    again, said = run(settings, only="weighttp")
    assert time.monotonic() - started < 5
    assert again == manifest and snapshot(prefix) == before
    assert "in place" in said and "unchanged" in said and "manifest" in said and "unchanged;" in said
    assert www.requests == [f"/{tarball.name}"]


@needs_builds
def test_weighttp_04_builds_with_libev_and_force_rebuilds(www, setup_dirs):
    prefix, _, settings = setup_dirs
    if not Path("/usr/include/ev.h").exists():
        pytest.skip("needs libev-dev")
    tarball = c_program_tarball(www.root, "0.4", build="libev")
    settings["weighttp"]["version"] = "0.4"
    settings["weighttp"]["releases"]["0.4"].update(pin(www, tarball))  # the pinned 0.4 build commands

    manifest, _ = run(settings, only="weighttp")
    said = subprocess.run([prefix / "bin" / "weighttp", "-v"], capture_output=True, text=True).stdout
    assert said.startswith("weighttp 0.4 - a test build (libev 4.")
    assert manifest["tools"]["weighttp"]["pinned"] == "0.4"

    marker = prefix / "tools" / "weighttp-0.4" / ".complete"
    built = marker.stat().st_mtime_ns
    _, said = run(settings, only="weighttp", force=True)
    assert marker.stat().st_mtime_ns != built and "building weighttp 0.4" in said


@needs_builds
def test_checksum_mismatch_installs_nothing(www, setup_dirs):
    prefix, cache, settings = setup_dirs
    tarball = c_program_tarball(www.root, "0.5")
    settings["weighttp"]["releases"]["0.5"].update(url=www.url(tarball.name), sha256="0" * 64)

    with pytest.raises(BenchError, match="failed for weighttp") as error:
        run(settings, only="weighttp")
    assert f"expected {'0' * 64}, got {sha256(tarball)}" in str(error.value)
    assert not (cache / tarball.name).exists()
    assert bench_manifest.tool_binary(LocalHost(), str(prefix), "weighttp") is None
    assert not (prefix / "tools").exists()
    assert "weighttp" not in bench_manifest.read_manifest(LocalHost(), str(prefix))["tools"]


@needs_builds
def test_a_failed_build_shows_its_log_and_leaves_the_good_install(www, setup_dirs):
    prefix, _, settings = setup_dirs
    good = c_program_tarball(www.root / "good", "0.5", build="make")
    release = settings["weighttp"]["releases"]["0.5"]
    release.update(url=www.url(f"good/{good.name}"), sha256=sha256(good), file="good-0.5.tar.gz", build=MAKE_BUILD)
    first, _ = run(settings, only="weighttp")
    assert subprocess.run([prefix / "bin" / "weighttp", "-V"], capture_output=True).returncode == 0

    broken = c_program_tarball(www.root, "0.5", build="make", broken=True)
    release.update(url=www.url(broken.name), sha256=sha256(broken), file=broken.name)
    with pytest.raises(BenchError) as error:
        run(settings, only="weighttp")
    message = str(error.value)
    log = prefix / "logs" / "weighttp-0.5.log"
    assert "`make`" in message and "error" in message and f"full log: {log}" in message
    assert "this is not C" in log.read_text()  # the compiler's whole complaint is kept
    assert sorted(p.name for p in (prefix / "tools").iterdir()) == ["weighttp-0.5"]
    assert list((prefix / "build").iterdir()) == []
    # The earlier, complete build is still what is installed and recorded.
    assert subprocess.run([prefix / "bin" / "weighttp", "-V"], capture_output=True).returncode == 0
    assert bench_manifest.read_manifest(LocalHost(), str(prefix))["tools"]["weighttp"] == first["tools"]["weighttp"]


def test_offline_weighttp_falls_back_to_wrk_and_says_what_to_fetch(setup_dirs):
    prefix, cache, settings = setup_dirs
    url = closed_port_url("weighttp-0.5.tar.gz")
    settings["weighttp"]["releases"]["0.5"]["url"] = url

    manifest, said = run(settings, only="weighttp")
    assert f"fetch {url} into {cache}/" in said and "FALLBACK: `inv bench` uses wrk" in said
    source = manifest["tools"]["weighttp"]["source"]
    assert source["kind"] == "fallback" and source["instead"] == "wrk" and "refused" in source["reason"]
    assert source["fetch"] == {"url": url, "into": str(cache), "file": "weighttp-0.5.tar.gz"}
    assert bench_manifest.tool_binary(LocalHost(), str(prefix), "weighttp") is None


def test_offline_wrk2_has_no_stand_in_and_says_what_needs_it(setup_dirs):
    prefix, cache, settings = setup_dirs
    release = settings["wrk2"]["releases"][settings["wrk2"]["version"]]
    release["url"] = closed_port_url(release["file"])
    manifest, said = run(settings, only="wrk2")
    assert "FALLBACK: none; `inv bench` runs without wrk2 (`inv bench --latency` needs it)" in said
    assert bench_manifest.describe_source(manifest["tools"]["wrk2"]["source"]) == (
        f"not installed (pinned {release['file']} unavailable)")


@needs_builds
def test_a_tarball_dropped_into_the_cache_builds_offline(www, setup_dirs):
    prefix, cache, settings = setup_dirs
    tarball = c_program_tarball(www.root, "0.5")
    cache.mkdir()
    shutil.copy(tarball, cache / tarball.name)
    settings["weighttp"]["releases"]["0.5"].update(url=closed_port_url(tarball.name), sha256=sha256(tarball))
    manifest, said = run(settings, only="weighttp")
    assert manifest["tools"]["weighttp"]["source"]["kind"] == "tarball" and "FALLBACK" not in said
    assert bench_manifest.tool_binary(LocalHost(), str(prefix), "weighttp")


def test_offline_without_the_twisted_sdist_is_a_clear_error(setup_dirs):
    prefix, cache, settings = setup_dirs
    for release in settings["twisted"]:
        release["url"] = closed_port_url(f"twisted-{release['version']}.tar.gz")
    with pytest.raises(BenchError, match=r"failed for cpython: cannot download .*refused.*: fetch .* into "
                                         + str(cache) + r"/ \(as twisted-26.10.0.tar.gz\), or pass --mirror DIR .* and run again"):
        run(settings, only="cpython")
    assert bench_manifest.environments(LocalHost(), str(prefix)) == {}
    assert bench_manifest.read_manifest(LocalHost(), str(prefix))["tools"] == {}


# -- PyPy from a binary tarball, Twisted from its real sdist ----------------------------

def test_pypy_tarball_and_the_real_twisted_sdist(www, setup_dirs, twisted_cache):
    if not shutil.which("pypy3"):
        pytest.skip("needs pypy3 (the test's binary tarball wraps it)")
    prefix, cache, settings = setup_dirs
    link_cache(cache, twisted_cache)
    tarball = binary_tarball(www.root)
    settings["pypy"]["tarballs"] = {SetupTarget.open(LocalHost(), settings, False, print).arch: pin(www, tarball)}

    manifest, said = run(settings, only="pypy")
    python = prefix / "venvs" / "pypy-26.4.0" / "bin" / "python"
    assert bench_manifest.environments(LocalHost(), str(prefix)) == {("pypy", "26.4.0"): str(python)}
    version = subprocess.run([python, "-c", "import sys, twisted; print(sys.pypy_version_info.major, twisted.__version__)"],
                             capture_output=True, text=True).stdout.split()
    assert version == ["7", "26.4.0"]
    pypy, twisted = manifest["tools"]["pypy"], manifest["tools"]["twisted-pypy-26.4.0"]
    assert pypy["source"]["kind"] == "tarball" and pypy["source"]["sha256"] == sha256(tarball)
    assert pypy["base"] == str(prefix / "tools" / "pypy3.9-vtest-linux64" / "bin" / "pypy3")
    assert pypy["implementation"] == "PyPy" and pypy["python"].startswith("3.9")
    assert twisted["version"] == "26.4.0" and twisted["version_output"] == "26.4.0"
    assert twisted["source"]["sha256"] == setup_config("/", "/")["twisted"][1]["sha256"]
    assert "installing Twisted 26.4.0 from twisted-26.4.0.tar.gz" in said and "FALLBACK" not in said
    assert sorted(p.name for p in (prefix / "tools").iterdir()) == ["pypy3.9-vtest-linux64"]  # nothing half-unpacked

    before = snapshot(prefix)
    again, said = run(settings, only="pypy")
    assert again == manifest and snapshot(prefix) == before and "unchanged" in said


# -- several Twisted versions, each in an environment of its own ---------------------------

def test_each_twisted_version_gets_an_environment_of_its_own_per_interpreter(setup_dirs):
    """The real sdists of 22.10.0 and 26.4.0 (fetched by their pins), built into two CPython environments, their
    dependencies from the package index; the manifest lists both, and a second run changes nothing."""
    prefix, cache, settings = setup_dirs
    settings["pip_index"] = True
    try:
        manifest, said = run_versions(settings, ("22.10.0", "26.4.0"))
    except BenchError as exc:
        if "cannot download" in str(exc) or "package index" in str(exc):
            pytest.skip(f"needs the Twisted sdists and the package index: {exc}")
        raise
    found = bench_manifest.environments(LocalHost(), str(prefix))
    assert sorted(found) == [("cpython", "22.10.0"), ("cpython", "26.4.0")]
    for (_, version), python in found.items():
        said_version = subprocess.run([python, "-c", "import twisted; print(twisted.__version__)"],
                                      capture_output=True, text=True).stdout.strip()
        entry = manifest["tools"][f"twisted-cpython-{version}"]
        assert said_version == entry["version"] == entry["version_output"] == version
        assert entry["path"] == str(Path(python).parents[1])
    assert "installing Twisted 22.10.0 from Twisted-22.10.0.tar.gz" in said
    before = snapshot(prefix)
    again, said = run_versions(settings, ("22.10.0", "26.4.0"))
    assert again == manifest and snapshot(prefix) == before and "unchanged" in said
    only_one, _ = run_versions(settings, ("26.4.0",))  # the other environment stays, and stays listed
    assert only_one["tools"] == manifest["tools"]


def test_a_twisted_version_an_interpreter_cannot_install_is_refused_before_any_environment(setup_dirs):
    if not shutil.which("pypy3"):
        pytest.skip("needs Debian's pypy3 (Python 3.9)")
    prefix, cache, settings = setup_dirs
    for arch in settings["pypy"]["tarballs"]:
        settings["pypy"]["tarballs"][arch]["url"] = closed_port_url("pypy3.10-v7.3.17-linux64.tar.bz2")
    with pytest.raises(BenchError, match=r"failed for pypy: Twisted 26.10.0 needs Python >= 3.10, and pypy is Python "
                                         r"3\.9\.\d+: drop 26.10.0 from --twisted"):
        run_versions(settings, ("26.4.0", "26.10.0"), only="pypy")
    assert not (prefix / "venvs").exists()


def run_versions(settings, versions, only="cpython"):
    said = []
    manifest = provision.setup_host(LocalHost(), settings, only=only, log=said.append, twisted=versions)
    return manifest, "\n".join(said)


# -- a lab host over SSH ----------------------------------------------------------------

@pytest.mark.lab
@needs_builds
def test_setup_on_a_lab_host_uploads_the_cache(lab, lab_connect, www, tmp_path, twisted_cache, capsys):
    """`inv setup --host`: the tarballs come from this machine's cache, the lab host has no internet.

    The lab host shares this machine's disk, so its prefix is a folder of its own."""
    remote_prefix, cache = tmp_path / "remote-prefix", tmp_path / "controller-cache"
    link_cache(cache, twisted_cache)
    settings = setup_config(remote_prefix, cache)
    weighttp = c_program_tarball(www.root, "0.5")
    settings["weighttp"]["releases"]["0.5"].update(pin(www, weighttp))
    pypy_url = closed_port_url("pypy3.10-v7.3.17-linux64.tar.bz2")
    for arch in settings["pypy"]["tarballs"]:
        settings["pypy"]["tarballs"][arch]["url"] = pypy_url
    server = lab.host("server")
    config = Config(project_location=str(PROJECT))
    config.load_project()
    config.load_overrides({"setup": settings, "lab": {"key": str(server.key), "known_hosts": str(server.known_hosts)}})

    setup_task(Context(config), host=[server.spec])
    first = capsys.readouterr().out
    host = lab_connect("server")
    manifest = bench_manifest.read_manifest(host, str(remote_prefix))
    assert manifest["hostname"] and manifest["prefix"] == str(remote_prefix)
    assert set(manifest["tools"]) >= {"nginx", "wrk", "pypy", "twisted-pypy-26.4.0", "cpython", "twisted-cpython-26.10.0",
                                      "weighttp", "h2load"}
    pypy = manifest["tools"]["pypy"]["source"]
    assert pypy["kind"] == "fallback" and pypy["package"] == "pypy3"
    assert pypy["fetch"] == {"url": pypy_url, "into": str(cache), "file": "pypy3.10-v7.3.17-linux64.tar.bz2"}
    assert manifest["tools"]["twisted-pypy-26.4.0"]["version"] == "26.4.0"
    assert manifest["tools"]["twisted-cpython-26.10.0"]["version"] == "26.10.0"
    assert bench_manifest.environments(host, str(remote_prefix)) == {
        (name, version): str(remote_prefix / "venvs" / f"{name}-{version}" / "bin" / "python")
        for name, version in (("pypy", "26.4.0"), ("cpython", "26.10.0"))}
    assert bench_manifest.tool_binary(host, str(remote_prefix), "weighttp") == str(remote_prefix / "bin" / "weighttp")
    uploaded = remote_prefix / "cache"
    assert sha256(uploaded / weighttp.name) == sha256(weighttp)
    assert {p.name for p in uploaded.glob("twisted-*.tar.gz")} == {"twisted-26.4.0.tar.gz", "twisted-26.10.0.tar.gz"}
    assert f"uploading {weighttp.name} to {server.spec}" in first and "apt-get" not in first
    assert "FALLBACK: pypy3" in first

    before = snapshot(remote_prefix)
    setup_task(Context(config), host=[server.spec])
    second = capsys.readouterr().out
    assert snapshot(remote_prefix) == before and bench_manifest.read_manifest(host, str(remote_prefix)) == manifest
    assert "uploading" not in second and second.count("unchanged") >= 5


@pytest.mark.lab
def test_an_offline_lab_host_gets_twisteds_dependencies_from_this_machine(lab, lab_connect, tmp_path, twisted_cache):
    """No route out from the lab host, nothing in CACHE/wheels: this machine fetches what each host
    interpreter needs (its kind of Python, here), uploads it, and the manifest records every file's sha256."""
    remote_prefix, cache = tmp_path / "remote-prefix", tmp_path / "controller-cache"
    cache.mkdir()
    for sdist in twisted_cache.glob("twisted-*.tar.gz"):
        (cache / sdist.name).symlink_to(sdist)
    settings = setup_config(remote_prefix, cache)
    settings["pip_index"] = True  # the default: only this machine may use the index
    host = lab_connect("server")
    assert not host.run("ip route show default", warn=True).stdout.strip()  # nothing leaves the lab host
    said = []
    manifest = provision.setup_host(host, settings, only="pypy,cpython", log=said.append)
    text = "\n".join(said)
    for name, twisted_version in (("pypy", "26.4.0"), ("cpython", "26.10.0")):
        entry = manifest["tools"][f"twisted-{name}-{twisted_version}"]
        interpreter = manifest["tools"][name]
        folder = cache / "wheels" / f"{interpreter['implementation'].lower()}-{'.'.join(interpreter['python'].split('.')[:2])}"
        recorded = entry["source"]["dependencies"]
        assert entry["version"] == twisted_version and recorded["fetched"] == f"by the controller for {folder.name}"
        assert recorded["sha256"] == {p.name: sha256(p) for p in folder.iterdir() if not p.name.startswith(".")}
        assert any(name.startswith("hatchling-") for name in recorded["sha256"])
        log = (remote_prefix / "logs" / f"{name}-{twisted_version}.log").read_text()
        assert "--no-index" in log and f"--find-links {remote_prefix}/cache/wheels/{folder.name}" in log
        python = f"{remote_prefix}/venvs/{name}-{twisted_version}/bin/python"
        probe = f"{python} -c 'import twisted.web; print(twisted.__version__)'"
        assert host.run(probe).stdout.strip() == twisted_version
    assert "fetching Twisted 26.4.0's dependencies for PyPy" in text
    assert "uploading" in text and "FAILED" not in text
