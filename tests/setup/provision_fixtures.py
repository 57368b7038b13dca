"""What the provisioning tests serve and build: tarballs made here, a loopback HTTP
server, and the `setup` config of invoke.yaml with its pins pointed at them."""
from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from invoke import Config

from bench.config import plain
from bench.setup import tarballs

PROJECT = Path(__file__).resolve().parents[2]
# Real Twisted sdists and their dependencies' wheels, kept between runs (first run: from PyPI).
PERSISTENT_CACHE = Path(os.environ.get("TWISTED_LAB_TEST_CACHE", "~/.cache/twisted-lab-tests")).expanduser()

PROGRAM = r"""#include <stdio.h>
#include <string.h>
%(include)s
int main(int argc, char **argv) {
    if (argc > 1 && (!strcmp(argv[1], "-V") || !strcmp(argv[1], "-v"))) {
        printf("weighttp %%s - a test build%(extra)s\n", VERSION%(args)s);
        return 0;
    }
    puts("usage: weighttp -V");
    return 1;
}
"""

MESON_BUILD = """project('weighttp', 'c', version: '%s')
add_project_arguments('-DVERSION="%s"', language: 'c')
executable('weighttp', 'weighttp.c', install: true)
"""

MAKEFILE = """weighttp: weighttp.c
\tcc -DVERSION='"%s"' -o weighttp weighttp.c

install: weighttp
\tinstall -D -m 755 weighttp $(PREFIX)/bin/weighttp
"""

MAKE_BUILD = ["make", "make install PREFIX={prefix}"]


def setup_config(prefix: Path | str, cache: Path | str) -> dict:
    """invoke.yaml's `setup` section, as Invoke loads it, with this test's prefix and
    cache; pip offline."""
    config = Config(project_location=str(PROJECT))
    config.load_project()
    settings = plain(config.setup)
    settings.update(prefix=str(prefix), cache=str(cache), pip_index=False)
    return settings


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _tar(path: Path, files: dict[str, tuple[bytes, int]], compression: str = "gz") -> Path:
    """A reproducible tarball: fixed times and owners, so its sha256 is stable."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, (data, mode) in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime, info.uname, info.gname = len(data), mode, 0, "root", "root"
            archive.addfile(info, io.BytesIO(data))
    raw = buffer.getvalue()
    if compression == "gz":
        out = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as packed:
            packed.write(raw)
        raw = out.getvalue()
    elif compression == "bz2":
        raw = bz2.compress(raw)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)
    return path


def c_program_tarball(folder: Path, version: str, build: str = "meson", broken: bool = False) -> Path:
    """``weighttp-<version>.tar.gz``: a tiny C program saying ``weighttp <version>`` on -V,
    with a meson build, a plain Makefile, or weighttp 0.4's layout (src/*.c, libev)."""
    top = f"weighttp-weighttp-{version}"
    if build == "libev":
        source = PROGRAM % {"include": "#include <ev.h>\n#define VERSION PACKAGE_VERSION", "extra": " (libev %d.%d)",
                            "args": ", ev_version_major(), ev_version_minor()"}
        files = {f"{top}/src/weighttp.c": source, f"{top}/src/client.c": "int weighttp_client;\n",
                 f"{top}/src/worker.c": "int weighttp_worker;\n"}
    else:
        files = {f"{top}/weighttp.c": PROGRAM % {"include": "", "extra": "", "args": ""}}
        files[f"{top}/meson.build" if build == "meson" else f"{top}/Makefile"] = (
            MESON_BUILD % (version, version) if build == "meson" else MAKEFILE % version)
    if broken:
        name = next(name for name in files if name.endswith("weighttp.c"))
        files[name] = files[name].replace("int main", "this is not C;\nint main")
    return _tar(folder / f"weighttp-{version}.tar.gz", {name: (text.encode(), 0o644) for name, text in files.items()})


def binary_tarball(folder: Path) -> Path:
    """A binary-style PyPy tarball: a top folder with ``bin/pypy3`` (this machine's PyPy)."""
    pypy = shutil.which("pypy3") or "/usr/bin/pypy3"
    wrapper = f'#!/bin/sh\nexec {pypy} "$@"\n'.encode()
    return _tar(folder / "pypy3.9-vtest-linux64.tar.bz2",
                {"pypy3.9-vtest-linux64/bin/pypy3": (wrapper, 0o755),
                 "pypy3.9-vtest-linux64/LICENSE": (b"test\n", 0o644)}, compression="bz2")


def pin(server: "FileServer", path: Path, **extra) -> dict:
    return {"url": server.url(path.name), "sha256": sha256(path), **extra}


def closed_port_url(name: str) -> str:
    """A loopback URL nothing listens on: the download is refused at once (offline)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/{name}"


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``root`` with its mtime and size (symlinks not followed)."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder, name)
            stat = path.lstat()
            found[str(path.relative_to(root))] = (stat.st_mtime_ns, stat.st_size)
    return found


class FileServer:
    """A loopback HTTP server for a folder. ``/truncated/NAME`` promises twice the
    file's length and then hangs up; ``requests`` lists the paths asked for."""

    def __init__(self, root: Path):
        self.root = root
        self.requests: list[str] = []
        server = self

        class Handler(SimpleHTTPRequestHandler):
            def __init__(self, *args, **kw):
                super().__init__(*args, directory=str(root), **kw)

            def do_GET(self):
                server.requests.append(self.path)
                if self.path.startswith("/truncated/"):
                    data = (root / self.path.split("/")[-1]).read_bytes()
                    self.send_response(200)
                    self.send_header("Content-Length", str(2 * len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    self.close_connection = True
                    return
                super().do_GET()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


def real_twisted_cache() -> Path:
    """The persistent cache with the pinned Twisted sdists and, in ``wheels/``, their
    dependencies for this machine's PyPy and CPython; filled from PyPI on first use.

    Raises RuntimeError when it cannot be filled (no PyPI).
    """
    settings = setup_config("/unused", PERSISTENT_CACHE)
    for release in settings["twisted"]:
        tarballs.fetch(tarballs.Pin.from_config(release, "setup.twisted"), PERSISTENT_CACHE, log=lambda line: None)
    wheels = PERSISTENT_CACHE / "wheels"
    stamp = wheels / ".complete"
    if stamp.exists():
        return PERSISTENT_CACHE
    wheels.mkdir(parents=True, exist_ok=True)
    build = ["hatchling", "hatch-fancy-pypi-readme", "incremental", "setuptools", "wheel"]
    scratch = PERSISTENT_CACHE / "pypy-scratch"
    shutil.rmtree(scratch, ignore_errors=True)
    pypy = shutil.which("pypy3") or "/usr/bin/pypy3"
    jobs = [
        [pypy, "-m", "venv", str(scratch)],
        [str(scratch / "bin" / "python"), "-m", "pip", "download", "-q", "-d", str(wheels), "twisted==26.4.0", *build],
        [sys.executable, "-m", "pip", "download", "-q", "-d", str(wheels), "twisted==26.10.0", *build],
    ]
    try:
        for job in jobs:
            done = subprocess.run(job, capture_output=True, text=True, stdin=subprocess.DEVNULL)
            if done.returncode != 0:
                raise RuntimeError(f"{' '.join(job)}: {done.stderr.strip().splitlines()[-1:]}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for stray in wheels.glob("twisted-*"):  # the sdist under test must be what pip installs
        stray.unlink()
    stamp.write_text("")
    return PERSISTENT_CACHE


def link_cache(cache: Path, source: Path) -> Path:
    """A test's own cache holding links to the persistent Twisted sdists and wheels."""
    cache.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        if item.name.startswith("twisted-") or item.name == "wheels":
            (cache / item.name).symlink_to(item)
    return cache
