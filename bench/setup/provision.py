"""`inv setup`: provide the lab's tools on a host from pinned tarballs, and record them.

Layout under the prefix (``setup.prefix``, expanded on the host)::

    venvs/pypy/bin/python     PyPy environment with Twisted (from its sdist)
    venvs/cpython/bin/python  CPython environment with Twisted
    bin/weighttp              the built weighttp (a link into tools/)
    tools/                    extracted and built tools, each with its .complete marker
    build/                    temporary build folders (removed after each build)
    logs/                     the full log of each tool's last install
    cache/                    tarballs uploaded from the controller (remote hosts)
    manifest.json             what is installed, from where, and what it says it is

Every install step writes a ``.complete`` marker last; only a complete install counts,
so a step that failed halfway is redone by the next run, never mistaken for a good one.
"""
from __future__ import annotations

import json
import os
import posixpath
import re
import shlex
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from bench.clock import now_utc
from bench.config import plain
from bench.errors import BenchError
from bench.hosts import Host
from bench.manifest import (
    MANIFEST,
    MARKER,
    describe_source,
    read_manifest,
)

from . import packages, tarballs

TOOLS = ("nginx", "wrk", "pypy", "cpython", "weighttp")
LOG_TAIL = 6


# -- the run ---------------------------------------------------------------------

def parse_only(text: str | None) -> tuple[str, ...]:
    """``--only pypy,weighttp`` -> the tools named, in setup order; None -> all of them."""
    if not text:
        return TOOLS
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in TOOLS]
    if unknown or not names:
        raise BenchError(f"unknown tool {', '.join(unknown) or repr(text)} in --only: choose from {', '.join(TOOLS)}")
    return tuple(name for name in TOOLS if name in names)


@dataclass
class Site:
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
    tool: str = ""

    @classmethod
    def open(cls, host: Host, settings: dict, force: bool, log: Callable[[str], None]) -> "Site":
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
            force=force, log=log,
        )

    def path(self, *parts: str) -> str:
        return posixpath.join(self.prefix, *parts)

    def say(self, message: str) -> None:
        self.log(f"  {self.tool:<9}{message}")

    # -- files -------------------------------------------------------------------
    def obtain(self, pin: tarballs.Pin) -> str:
        """The host's path of the verified tarball ``pin``: fetched into the controller's
        cache when absent (:class:`tarballs.Unavailable` when it cannot be), uploaded to a
        remote host unless its copy already matches."""
        local = tarballs.fetch(pin, self.cache, self.say)
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

    def wheels(self) -> str | None:
        """The host's folder of dependency wheels for an offline lab (``CACHE/wheels``),
        brought up to date from the controller's; None when there is none."""
        local = self.cache / "wheels"
        files = sorted(p for p in local.glob("*") if p.is_file() and not p.name.startswith(".")) if local.is_dir() else []
        if not files:
            return None
        if self.host.is_local:
            return str(local)
        remote = posixpath.join(self.host_cache, "wheels")
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


def setup_host(host: Host, config: Mapping, only=None, force: bool = False,
               log: Callable[[str], None] = print) -> dict:
    """Provide the tools (all, or those named in ``only``) on ``host``; return its manifest.

    ``config`` is the ``setup`` section of invoke.yaml. A tool already in place is kept
    unless ``force``. Every tool is attempted; when any failed, the manifest still
    records the others and a :class:`BenchError` names the failures.
    """
    from bench import tools  # tools builds on Site

    settings = plain(config)
    names = parse_only(only) if isinstance(only, (str, type(None))) else parse_only(",".join(only))
    started = time.monotonic()
    site = Site.open(host, settings, force, log)
    log(f"setup on {host} ({site.hostname}, {site.arch}, {site.os_name}): prefix {site.prefix}, cache {site.cache}")
    previous = read_manifest(host, site.prefix)
    entries = dict(previous.get("tools", {}))
    failures = []
    for name in names:
        site.tool = name
        step_started = time.monotonic()
        before = {key: entries.pop(key) for key in tools.keys(name, entries)}
        try:
            made, status = tools.STEPS[name](site), None
        except BenchError as exc:
            failures.append(f"{name}: {exc}")
            site.say(f"FAILED: {exc}")
            made, status = tools.recorded(site, name), "FAILED"
        entries.update(made)
        fallback = any(entry.get("source", {}).get("kind") == "fallback" for entry in made.values())
        status = status or ("unchanged" if made == before else "done") + (", FALLBACK" if fallback else "")
        site.say(f"{status} ({time.monotonic() - step_started:.1f}s)")
    manifest = {
        "host": str(host), "hostname": site.hostname, "arch": site.arch, "os": site.os_name,
        "prefix": site.prefix, "tools": entries,
    }
    changed = manifest != {k: v for k, v in previous.items() if k != "written"}
    manifest["written"] = now_utc() if changed else previous.get("written", now_utc())
    path = site.path(MANIFEST)
    if changed:
        host.write_text(path, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    site.tool = ""
    for line in format_manifest(manifest):
        log(f"  {line}")
    log(f"manifest {host}:{path} {'written' if changed else 'unchanged'}; "
        f"setup on {host} took {time.monotonic() - started:.1f}s")
    if failures:
        raise BenchError(f"setup on {host} failed for {'; '.join(failures)}")
    return manifest


# -- rendering (pure) --------------------------------------------------------------

def format_manifest(manifest: dict) -> list[str]:
    """The manifest as a table: tool, version, source, path."""
    rows = [(name, str(entry.get("version") or "-"), describe_source(entry.get("source", {})), entry.get("path") or "-")
            for name, entry in sorted(manifest.get("tools", {}).items(), key=lambda item: _order(item[0]))]
    if not rows:
        return ["(no tools installed)"]
    widths = [max(len(row[i]) for row in rows + [("tool", "version", "source", "path")]) for i in range(3)]
    lines = [f"{'tool':<{widths[0]}}  {'version':<{widths[1]}}  {'source':<{widths[2]}}  path"]
    lines += [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:<{widths[2]}}  {d}" for a, b, c, d in rows]
    return lines


def _order(name: str) -> tuple:
    base = name.split("-")[-1] if name.startswith("twisted-") else name
    return (TOOLS.index(base) if base in TOOLS else len(TOOLS), name)
