"""One host being provisioned: where things go there, how files reach it, how commands run.

`inv setup`'s steps (:mod:`bench.setup.tools`) work through a :class:`SetupTarget`, so the
same step serves this machine and a lab host over SSH.
"""
from __future__ import annotations

import json
import os
import posixpath
import re
import shlex
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from bench.clock import now_utc
from bench.errors import BenchError
from bench.hosts import Host
from bench.manifest import MARKER
from bench.terminal import printable

from . import packages, tarballs

LOG_TAIL = 6


@dataclass
class SetupTarget:
    """One host being provisioned: where things go there, and how files reach it."""

    host: Host
    settings: dict
    prefix: str  # on the host
    cache: Path  # the controller's tarball cache
    host_cache: str  # the host's copy of the cache (the same folder when local)
    arch: str
    hostname: str
    os_name: str
    debian: bool
    force: bool
    log: Callable[[str], None]
    mirrors: tuple[Path, ...] = ()  # folders on the controller looked in, by file name, before downloading
    twisted: tuple[str, ...] = ()  # the Twisted versions each interpreter gets; none: the newest its Python meets
    tool: str = ""

    @classmethod
    def open(cls, host: Host, settings: dict, force: bool, log: Callable[[str], None],
             twisted: tuple[str, ...] = ()) -> "SetupTarget":
        facts = host.run("uname -m; uname -n; cat /etc/os-release 2>/dev/null", warn=True).stdout.splitlines()
        if len(facts) < 2:
            raise BenchError(f"{host}: `uname` printed nothing; is it a Unix host?")
        release = packages.parse_os_release("\n".join(facts[2:]))
        prefix = host.expand(settings["prefix"]).rstrip("/")
        if not prefix.startswith("/"):
            raise BenchError(f"setup.prefix {settings['prefix']!r} must be an absolute path or start with ~")
        cache = Path(os.path.expanduser(settings["cache"])).absolute()
        return cls(
            host=host, settings=settings, prefix=prefix, cache=cache,
            host_cache=str(cache) if host.is_local else posixpath.join(prefix, "cache"),
            arch=facts[0].strip(), hostname=facts[1].strip(),
            os_name=release.get("PRETTY_NAME", "unknown OS"), debian=packages.is_debian_like(release),
            force=force, log=log, mirrors=tarballs.mirror_folders(settings.get("mirrors")), twisted=tuple(twisted),
        )

    def path(self, *parts: str) -> str:
        return posixpath.join(self.prefix, *parts)

    def say(self, message: str) -> None:
        self.log(printable(f"  {self.tool:<9}{message}"))

    # -- files -------------------------------------------------------------------
    def obtain(self, pin: tarballs.Pin) -> str:
        """The host's path of the verified tarball ``pin``: fetched into the controller's
        cache when absent (:class:`tarballs.Unavailable` when it cannot be), uploaded to a
        remote host unless its copy already matches."""
        local = tarballs.fetch(pin, self.cache, self.say, mirrors=self.mirrors)
        if self.host.is_local:
            return str(local)
        remote = posixpath.join(self.host_cache, pin.file)
        if self.remote_sha256([remote]).get(remote) != pin.sha256:
            self.say(f"uploading {pin.file} to {self.host}:{self.host_cache}/")
            self.host.put(local, remote + ".part")
            if self.remote_sha256([remote + ".part"]).get(remote + ".part") != pin.sha256:
                raise BenchError(f"{pin.file} arrived damaged on {self.host}: run again")
            self.host.run(f"mv -f {shlex.quote(remote + '.part')} {shlex.quote(remote)}")
        return remote

    def wheels(self, local: Path | None = None) -> str | None:
        """The host's copy of a folder of dependency files under the controller's cache (by default
        ``CACHE/wheels``, filled by hand), brought up to date; None when there is none."""
        local = local or self.cache / "wheels"
        files = sorted(p for p in local.glob("*") if p.is_file() and not p.name.startswith(".")) if local.is_dir() else []
        if not files:
            return None
        if self.host.is_local:
            return str(local)
        remote = posixpath.join(self.host_cache, *local.relative_to(self.cache).parts)
        there = self.remote_sha256([posixpath.join(remote, p.name) for p in files])
        stale = [p for p in files if there.get(posixpath.join(remote, p.name)) != tarballs.sha256_of(p)]
        if stale:
            self.say(f"uploading {len(stale)} dependency files to {self.host}:{remote}/")
            with tempfile.TemporaryDirectory() as scratch:  # one transfer, not one per file
                bundle = Path(scratch, "wheels.tar")
                with tarfile.open(bundle, "w") as archive:
                    for path in stale:
                        archive.add(path, arcname=path.name)
                target = posixpath.join(self.host_cache, "wheels.tar")
                self.host.put(bundle, target)
            self.host.run(f"mkdir -p {shlex.quote(remote)} && tar -xf {shlex.quote(target)} -C {shlex.quote(remote)} "
                          f"&& rm -f {shlex.quote(target)}")
        return remote

    def remote_sha256(self, paths: list[str]) -> dict[str, str]:
        result = self.host.run("sha256sum -- " + " ".join(map(shlex.quote, paths)) + " 2>/dev/null", warn=True)
        return {line[66:]: line[:64] for line in result.stdout.splitlines() if len(line) > 66}

    def read_marker(self, folder: str) -> dict | None:
        path = posixpath.join(folder, MARKER)
        if not self.host.exists(path):
            return None
        try:
            return json.loads(self.host.read_text(path))
        except ValueError:
            return None

    def write_marker(self, folder: str, key, entries: dict) -> None:
        self.host.write_text(posixpath.join(folder, MARKER),
                             json.dumps({"key": key, "entries": entries}, indent=2, sort_keys=True) + "\n")

    # -- commands ----------------------------------------------------------------
    def start_log(self, name: str) -> str:
        """A fresh ``PREFIX/logs/NAME.log`` for this install."""
        log = self.path("logs", f"{name}.log")
        self.host.mkdir(posixpath.dirname(log))
        self.host.run(f"printf '%s\\n' {shlex.quote(f'# {name} on {self.host}, {now_utc()}')} >{shlex.quote(log)}")
        return log

    def run_logged(self, command: str, log: str, what: str, cwd: str | None = None) -> None:
        """Run ``command`` with its output appended to ``log``; on failure the error
        carries the log's last lines and where the full log is."""
        header = f"$ {f'(cd {cwd}) ' if cwd else ''}{command}"
        enter = f"cd {shlex.quote(cwd)} && " if cwd else ""
        result = self.host.run(
            f"printf '%s\\n' {shlex.quote(header)} >>{shlex.quote(log)}; "
            f"( {enter}{command} ) </dev/null >>{shlex.quote(log)} 2>&1", warn=True)
        if not result.ok:
            lines = self.host.run(f"tail -n {LOG_TAIL} {shlex.quote(log)}", warn=True).stdout.strip().splitlines()
            for line in lines:
                self.say(f"| {line}")
            telling = [line.strip() for line in lines if re.search(r"[A-Za-z]{3}", line)][-2:]
            raise BenchError(f"{what} failed on {self.host} (exit {result.exited}): "
                             f"{' | '.join(telling) or 'no output'}; full log: {log}")

    def capture(self, argv: list[str]) -> tuple[bool, str]:
        """(exited 0, stdout+stderr stripped) of a short command such as ``nginx -v``."""
        result = self.host.run(" ".join(map(shlex.quote, argv)) + " 2>&1", warn=True, timeout=60)
        return result.ok, result.stdout.strip()

    def which(self, command: str) -> str | None:
        if command.startswith("/"):
            return command if self.host.run(f"test -x {shlex.quote(command)}", warn=True).ok else None
        # sbin is missing from a plain user's PATH over SSH, and nginx lives there.
        found = self.host.run(f"PATH=\"$PATH:/usr/local/sbin:/usr/sbin:/sbin\" command -v {shlex.quote(command)}",
                              warn=True).stdout.strip()
        return found or None

    def ensure_packages(self, names: list[str], commands: list[str] = ()) -> dict[str, str]:
        """Install whichever of the distro packages ``names`` are missing (Debian/Ubuntu);
        elsewhere, fail naming them when one of ``commands`` is missing. Returns the
        installed versions (empty off Debian)."""
        names = list(names)
        if not self.debian:
            absent = [command for command in commands if self.which(command) is None]
            if absent:
                raise BenchError(f"{self.host} ({self.os_name}) lacks {', '.join(absent)}: install it with the "
                                 f"system's package manager (Debian calls it {' '.join(names)}), then run again")
            return {}
        versions = packages.installed(self.host, names)
        lacking = [name for name in names if name not in versions]
        if lacking:
            packages.install(self.host, lacking, self.say)
            versions = packages.installed(self.host, names)
            still = [name for name in lacking if name not in versions]
            if still:
                raise BenchError(f"apt-get reported success but {' '.join(still)} is not installed on {self.host}")
        return versions
