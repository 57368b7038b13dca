"""The tarball cache: pinned files fetched once, verified every time they are used.

A :class:`Pin` names a file by URL and sha256. :func:`fetch` returns the cached copy
after checking its sha256. When it is absent it is copied from the first mirror (a
folder, ``--mirror`` / ``setup.mirrors``) that holds a file of that name, else
downloaded. A file the user dropped into the cache by hand is used the same way, so an
offline lab works. A download cut short, a checksum that does not match, or a file that
is no tarball never stays in the cache. The cache must be the user's own folder, writable by
no one else, and a file is written there under a fresh name, then renamed into place.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable

from bench.errors import BenchError
from bench.folders import check_private

SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar")
CHUNK = 1 << 16


class Unavailable(BenchError):
    """The file is not in the cache and cannot be downloaded from here."""


@dataclass(frozen=True)
class Pin:
    """One pinned file: where it comes from, its sha256, its name in the cache."""

    url: str
    sha256: str
    file: str

    @classmethod
    def from_config(cls, data: dict, where: str) -> "Pin":
        """A pin from invoke.yaml data (``url``, ``sha256``, optional ``file``)."""
        url, sha256 = data.get("url"), str(data.get("sha256") or "").lower()
        if not url:
            raise BenchError(f"{where} has no url: give the tarball's URL in invoke.yaml")
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise BenchError(f"{where}.sha256 is {data.get('sha256')!r}, not a sha256: give its 64 hex digits in invoke.yaml")
        file = data.get("file") or os.path.basename(urllib.parse.urlparse(url).path)
        if not file or "/" in file:
            raise BenchError(f"{where}: cannot name a file after {url!r}: add `file:` to the pin")
        return cls(url=url, sha256=sha256, file=file)

    @property
    def stem(self) -> str:
        """The file name without its tarball suffix: ``pypy3.10-v7.3.17-linux64``."""
        for suffix in SUFFIXES:
            if self.file.endswith(suffix):
                return self.file[: -len(suffix)]
        return self.file

    def fetch_hint(self, cache: Path) -> str:
        return f"fetch {self.url} into {cache}/ (as {self.file}), or pass --mirror DIR of a folder holding it"


def mirror_folders(folders) -> tuple[Path, ...]:
    """The mirror folders named by the user, checked: a one-line error for one that is no folder."""
    found = []
    for folder in folders or ():
        path = Path(os.path.expanduser(str(folder))).absolute()
        if not path.is_dir():
            raise BenchError(f"mirror {str(folder)!r} is not a folder: pass --mirror DIR with a folder that holds "
                             f"the pinned files, or correct setup.mirrors in invoke.yaml")
        found.append(path)
    return tuple(found)


def fetch(pin: Pin, cache: Path, log: Callable[[str], None] = print, timeout: float = 15.0,
          mirrors: tuple[Path, ...] = ()) -> Path:
    """The verified cached copy of ``pin``; when absent, copied from the first of ``mirrors``
    that holds a file of its name, else downloaded.

    Raises :class:`Unavailable` when it is absent and cannot be downloaded, and
    :class:`BenchError` when what was found, copied or downloaded is not the pinned file.
    """
    cache = Path(cache)
    cache.mkdir(mode=0o755, parents=True, exist_ok=True)
    check_private(cache, "tarball cache", "pick another --cache (setup.cache)")
    path = cache / pin.file
    if path.exists():
        verify(pin, path)
        return path
    mirrored = next((Path(folder) / pin.file for folder in mirrors if (Path(folder) / pin.file).is_file()), None)
    # A fresh name (O_EXCL: nothing planted there is followed), renamed into place once verified.
    descriptor, name = tempfile.mkstemp(dir=cache, prefix=f".{pin.file}.", suffix=".part")
    partial = Path(name)
    try:
        with os.fdopen(descriptor, "wb") as out:
            if mirrored is not None:
                actual = sha256_of(mirrored)
                if actual != pin.sha256:
                    raise BenchError(f"mirror file {mirrored}: sha256 mismatch, expected {pin.sha256}, got {actual}: "
                                     f"replace it with {pin.url}, or correct the pin in invoke.yaml")
                log(f"copying {pin.file} from the mirror {mirrored.parent}")
                with open(mirrored, "rb") as source:
                    shutil.copyfileobj(source, out, CHUNK)
            else:
                download(pin.url, out, log, timeout)
        os.chmod(partial, 0o644)
        verify(pin, partial)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, path)
    return path


def verify(pin: Pin, path: Path) -> None:
    """Check the sha256 and that it reads as a tarball; remove the file when it fails."""
    actual = sha256_of(path)
    if actual != pin.sha256:
        path.unlink(missing_ok=True)
        raise BenchError(
            f"{pin.file}: sha256 mismatch, expected {pin.sha256}, got {actual}; removed it: "
            f"fetch it again from {pin.url}, or correct the pin in invoke.yaml"
        )
    problem = tarball_problem(path)
    if problem:
        path.unlink(missing_ok=True)
        raise BenchError(f"{pin.file} matches its pin but is not a tarball ({problem}); removed it: "
                         f"point the pin at the release tarball itself")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as data:
        for block in iter(lambda: data.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def tarball_problem(path: Path) -> str | None:
    """Why ``path`` is not a readable tarball, or None; reads only its first member."""
    try:
        with tarfile.open(path, "r:*") as archive:
            if archive.next() is None:
                return "it is empty"
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:  # bz2/lzma raise plain OSError/EOFError
        return str(exc) or type(exc).__name__
    return None


def download(url: str, out: BinaryIO, log: Callable[[str], None], timeout: float = 15.0) -> None:
    """Stream ``url`` into the open file ``out``, saying how far it got; refuse a short read."""
    started = time.monotonic()
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers={"User-Agent": "twisted-lab"}),
                                          timeout=timeout)
    except urllib.error.HTTPError as exc:
        raise Unavailable(f"cannot download {url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise Unavailable(f"cannot download {url}: {_reason(exc.reason)}") from None
    except (socket.timeout, TimeoutError):
        raise Unavailable(f"cannot download {url}: no answer in {timeout:g}s") from None
    except ValueError as exc:
        raise BenchError(f"bad URL {url!r} ({exc}): correct the pin in invoke.yaml") from None
    with response:
        total = int(response.headers.get("Content-Length") or 0) or None
        log(f"downloading {url} ({format_size(total) if total else 'size unknown'})")
        received, said = 0, time.monotonic()
        try:
            for block in iter(lambda: response.read(CHUNK), b""):
                out.write(block)
                received += len(block)
                if time.monotonic() - said >= 2:
                    said = time.monotonic()
                    log(f"  {format_size(received)}" + (f" of {format_size(total)} ({100 * received // total}%)" if total else ""))
        except (OSError, socket.timeout) as exc:  # http.client.IncompleteRead is an OSError too
            raise BenchError(f"download of {url} is truncated: it broke off after {format_size(received)} ({_reason(exc)}); run again") from None
    if total is not None and received != total:
        raise BenchError(f"download of {url} is truncated: {received} of {total} bytes; run again")
    seconds = time.monotonic() - started
    log(f"  got {format_size(received)} in {seconds:.1f}s")


def format_size(size: int | None) -> str:
    if size is None:
        return "?"
    for unit, scale in (("MB", 1 << 20), ("kB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def _reason(reason) -> str:
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve the host ({reason.strerror})"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__


def tarball_source(pin: Pin) -> dict:
    return {"kind": "tarball", "url": pin.url, "sha256": pin.sha256, "file": pin.file}
