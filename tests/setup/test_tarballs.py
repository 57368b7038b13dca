"""The tarball cache against a real HTTP server on loopback."""
import os

import pytest
from provision_fixtures import FileServer, c_program_tarball, closed_port_url, sha256

from bench.errors import BenchError
from bench.setup import tarballs
from bench.setup.tarballs import Pin, Unavailable


@pytest.fixture
def served(tmp_path):
    root = tmp_path / "www"
    tarball = c_program_tarball(root, "0.5")
    (root / "index.html").write_text("<html>not a tarball</html>\n")
    server = FileServer(root)
    yield server, tarball
    server.close()


def lines():
    said = []
    return said, said.append


@pytest.mark.parametrize("data, message", [
    ({"sha256": "0" * 64}, "has no url"),
    ({"url": "http://x/a.tar.gz", "sha256": "abc"}, "not a sha256"),
    ({"url": "http://x/a.tar.gz"}, "not a sha256"),
    ({"url": "http://x/", "sha256": "0" * 64}, "cannot name a file"),
])
def test_pin_rejects_incomplete_pins(data, message):
    with pytest.raises(BenchError, match=message):
        Pin.from_config(data, "setup.example")


@pytest.mark.parametrize("url, file, stem", [
    ("https://downloads.python.org/pypy/pypy3.10-v7.3.17-linux64.tar.bz2", None, "pypy3.10-v7.3.17-linux64"),
    ("https://github.com/lighttpd/weighttp/archive/refs/tags/weighttp-0.5.tar.gz", None, "weighttp-0.5"),
    ("https://example.org/download?id=7", "tool-1.0.tgz", "tool-1.0"),
])
def test_pin_names_the_cached_file(url, file, stem):
    pin = Pin.from_config({"url": url, "sha256": "A" * 64, **({"file": file} if file else {})}, "setup.x")
    assert pin.stem == stem and pin.sha256 == "a" * 64
    assert pin.file == (file or url.rsplit("/", 1)[1])


def test_fetch_downloads_verifies_then_reuses_the_cache(served, tmp_path):
    server, tarball = served
    pin = Pin(server.url(tarball.name), sha256(tarball), tarball.name)
    said, log = lines()
    cached = tarballs.fetch(pin, tmp_path / "cache", log)
    assert cached.read_bytes() == tarball.read_bytes()
    assert any("downloading" in line for line in said) and any(" got " in line for line in said)
    assert tarballs.fetch(pin, tmp_path / "cache", log) == cached
    assert server.requests == [f"/{tarball.name}"]  # the second fetch used the cache


def test_checksum_mismatch_is_refused_and_nothing_stays(served, tmp_path):
    server, tarball = served
    wrong = "f" * 64
    with pytest.raises(BenchError) as error:
        tarballs.fetch(Pin(server.url(tarball.name), wrong, tarball.name), tmp_path / "cache", lines()[1])
    assert f"expected {wrong}" in str(error.value) and f"got {sha256(tarball)}" in str(error.value)
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_file_dropped_into_the_cache_is_used_offline(served, tmp_path):
    _, tarball = served
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / tarball.name).write_bytes(tarball.read_bytes())
    pin = Pin(closed_port_url(tarball.name), sha256(tarball), tarball.name)
    assert tarballs.fetch(pin, cache, lines()[1]) == cache / tarball.name


def test_a_bad_dropped_file_is_removed(served, tmp_path):
    _, tarball = served
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / tarball.name).write_bytes(tarball.read_bytes()[:-10])
    with pytest.raises(BenchError, match="sha256 mismatch"):
        tarballs.fetch(Pin(closed_port_url(tarball.name), sha256(tarball), tarball.name), cache, lines()[1])
    assert not (cache / tarball.name).exists()


def test_truncated_download_is_refused(served, tmp_path):
    server, tarball = served
    pin = Pin(server.url(f"truncated/{tarball.name}"), sha256(tarball), tarball.name)
    with pytest.raises(BenchError, match="truncated"):
        tarballs.fetch(pin, tmp_path / "cache", lines()[1])
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_download_that_is_no_tarball_is_refused(served, tmp_path):
    server, _ = served
    page = server.root / "index.html"
    with pytest.raises(BenchError, match="not a tarball"):
        tarballs.fetch(Pin(server.url("index.html"), sha256(page), "tool-1.0.tar.gz"), tmp_path / "cache", lines()[1])
    assert list((tmp_path / "cache").iterdir()) == []


@pytest.mark.parametrize("where, reason", [("closed", "refused"), ("missing", "HTTP 404")])
def test_unreachable_or_missing_is_unavailable(served, tmp_path, where, reason):
    server, tarball = served
    url = closed_port_url(tarball.name) if where == "closed" else server.url("nothing-here.tar.gz")
    with pytest.raises(Unavailable, match=reason):
        tarballs.fetch(Pin(url, sha256(tarball), "nothing-here.tar.gz"), tmp_path / "cache", lines()[1])
    assert list((tmp_path / "cache").iterdir()) == []


# -- mirrors: folders looked in by file name before downloading ----------------------------

def test_a_mirror_serves_the_file_without_a_download_and_it_is_cached(served, tmp_path):
    server, tarball = served
    empty, mirror = tmp_path / "empty", tmp_path / "mirror"
    empty.mkdir()
    mirror.mkdir()
    (mirror / tarball.name).write_bytes(tarball.read_bytes())
    pin = Pin(server.url(tarball.name), sha256(tarball), tarball.name)
    said, log = lines()
    cached = tarballs.fetch(pin, tmp_path / "cache", log, mirrors=tarballs.mirror_folders([empty, mirror]))
    assert cached == tmp_path / "cache" / tarball.name and cached.read_bytes() == tarball.read_bytes()
    assert said == [f"copying {tarball.name} from the mirror {mirror}"] and server.requests == []


def test_a_mirror_file_that_is_not_the_pinned_one_is_refused_and_left_alone(served, tmp_path):
    server, tarball = served
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / tarball.name).write_bytes(b"something else")
    with pytest.raises(BenchError, match=rf"^mirror file {mirror / tarball.name}: sha256 mismatch, expected "
                                         rf"{sha256(tarball)}, got [0-9a-f]{{64}}: replace it with "):
        tarballs.fetch(Pin(server.url(tarball.name), sha256(tarball), tarball.name), tmp_path / "cache", lines()[1],
                       mirrors=(mirror,))
    assert (mirror / tarball.name).read_bytes() == b"something else"  # not ours to remove
    assert list((tmp_path / "cache").iterdir()) == [] and server.requests == []


def test_a_mirror_without_the_file_leaves_it_to_the_download(served, tmp_path):
    server, tarball = served
    (tmp_path / "mirror").mkdir()
    pin = Pin(server.url(tarball.name), sha256(tarball), tarball.name)
    tarballs.fetch(pin, tmp_path / "cache", lines()[1], mirrors=(tmp_path / "mirror",))
    assert server.requests == [f"/{tarball.name}"]


def test_a_mirror_that_is_no_folder_is_one_clear_error(tmp_path):
    with pytest.raises(BenchError, match=r"^mirror '.*nowhere' is not a folder: pass --mirror DIR"):
        tarballs.mirror_folders([tmp_path / "nowhere"])
    assert tarballs.mirror_folders(None) == ()


@pytest.mark.parametrize("size, text", [(None, "?"), (512, "512 B"), (2048, "2.0 kB"), (3 << 20, "3.0 MB")])
def test_format_size(size, text):
    assert tarballs.format_size(size) == text


# -- the cache folder: partial files under fresh names, in a folder that is the user's alone --------

@pytest.mark.parametrize("source", ["mirror", "download"])
def test_a_link_planted_at_the_partial_name_is_never_followed(served, tmp_path, source):
    server, tarball = served
    cache, mirror, victim = tmp_path / "cache", tmp_path / "mirror", tmp_path / "victim"
    cache.mkdir()
    mirror.mkdir()
    (mirror / tarball.name).write_bytes(tarball.read_bytes())
    victim.write_text("someone's file\n")
    (cache / f"{tarball.name}.part").symlink_to(victim)  # the name the cache once wrote through
    pin = Pin(server.url(tarball.name), sha256(tarball), tarball.name)
    cached = tarballs.fetch(pin, cache, lines()[1], mirrors=(mirror,) if source == "mirror" else ())
    assert victim.read_text() == "someone's file\n"
    assert not cached.is_symlink() and cached.read_bytes() == tarball.read_bytes()
    assert sorted(p.name for p in cache.iterdir()) == [tarball.name, f"{tarball.name}.part"]


def unsafe_cache(cache, kind):
    if kind == "symlink":
        (cache.parent / "elsewhere").mkdir()
        cache.symlink_to(cache.parent / "elsewhere")
        return
    cache.mkdir()
    if kind == "group-writable":
        cache.chmod(0o775)
    else:
        os.chown(cache, 65534, 65534)


@pytest.mark.parametrize("kind, message", [
    ("group-writable", r"^tarball cache .*/cache is writable by others \(mode 775\): `chmod go-w .*/cache`, "
                       r"or pick another --cache \(setup.cache\)$"),
    ("symlink", r"^tarball cache .*/cache is not a plain folder \(a symlink or a file\): pick another --cache"),
    ("someone else's", r"^tarball cache .*/cache belongs to .*, not you: pick another --cache \(setup.cache\), "
                       r"or remove it if it is stale$"),
])
def test_a_cache_folder_others_could_write_into_is_refused(served, tmp_path, kind, message):
    server, tarball = served
    if kind == "someone else's" and os.geteuid() != 0:
        pytest.skip("needs root to give the folder to another user")
    unsafe_cache(tmp_path / "cache", kind)
    with pytest.raises(BenchError, match=message):
        tarballs.fetch(Pin(server.url(tarball.name), sha256(tarball), tarball.name), tmp_path / "cache", lines()[1])
    assert server.requests == []
