"""Twisted's environments: one per interpreter and Twisted version, ``PREFIX/venvs/<interpreter>-<version>``,
each with Twisted from its pinned sdist: the versions asked for (``--twisted``, bench.twisted), else the
newest pinned release the interpreter's Python meets. A version an interpreter cannot have is refused
in one line, before any is installed.
"""
from __future__ import annotations

import json
import posixpath
import re
import shlex
from dataclasses import dataclass

from bench.clock import now_utc
from bench.errors import BenchError
from bench.manifest import venv_name

from . import dependencies
from .tarballs import Pin, Unavailable, tarball_source
from .target import SetupTarget

QUERY = ("import json, platform, sys; v = getattr(sys, 'pypy_version_info', None); "
         "print(json.dumps({'python': platform.python_version(), 'implementation': platform.python_implementation(), "
         "'pypy': '.'.join(map(str, v[:3])) if v else None, 'executable': sys.executable}))")


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", str(text))[:3])


def twisted_for(releases: list[dict], python: str) -> tuple[str, Pin]:
    """The newest pinned Twisted whose minimum Python ``python`` meets: (version, pin)."""
    usable = [r for r in releases if version_tuple(python) >= version_tuple(r["python"])]
    if not usable:
        oldest = min((r["python"] for r in releases), key=version_tuple, default="?")
        raise BenchError(f"no pinned Twisted supports Python {python} (the oldest needs {oldest}): "
                         f"add a release to setup.twisted in invoke.yaml")
    best = max(usable, key=lambda r: version_tuple(r["version"]))
    return str(best["version"]), Pin.from_config(best, f"setup.twisted[{best['version']}]")


def twisted_releases(releases: list[dict], interpreter: str, python: str, wanted: tuple) -> list[tuple[str, Pin]]:
    """The Twisted releases to install for ``interpreter`` (Python ``python``): each version ``wanted``, else the
    newest its Python meets; a version it cannot have is refused in one line, before any is installed."""
    if not wanted:
        return [twisted_for(releases, python)]
    pinned = {str(release["version"]): release for release in releases}
    chosen = []
    for version in wanted:
        release = pinned.get(version)
        if release is None:
            raise BenchError(f"Twisted {version} is not pinned in setup.twisted (pinned: {', '.join(pinned)}): "
                             f"add its sdist's url, sha256 and oldest Python there")
        if version_tuple(python) < version_tuple(release["python"]):
            raise BenchError(f"Twisted {version} needs Python >= {release['python']}, and {interpreter} is Python "
                             f"{python}: drop {version} from --twisted (bench.twisted), or set up the others alone "
                             f"(--only)")
        chosen.append((version, Pin.from_config(release, f"setup.twisted[{version}]")))
    return chosen


@dataclass(frozen=True)
class Base:
    """The interpreter an environment is made from: its path, where it came from, and
    what identifies it (a changed identity rebuilds the environment)."""

    executable: str
    source: dict
    identity: object


def query(target: SetupTarget, python: str) -> dict:
    ok, said = target.capture([python, "-c", QUERY])
    if ok:
        try:
            return json.loads(said.splitlines()[-1])
        except (ValueError, IndexError):
            pass
    raise BenchError(f"{python} on {target.host} does not run ({said.splitlines()[-1] if said else 'no output'})")


def twisted_venv(target: SetupTarget, base: Base) -> dict:
    """An environment made from ``base`` for each Twisted version it gets: ``PREFIX/venvs/<tool>-<version>``,
    Twisted from its sdist. The manifest lists every complete one, those made before included."""
    name = target.tool
    info = query(target, base.executable)
    releases = twisted_releases(target.settings["twisted"], name, info["python"], target.twisted)
    made = {}
    for version, pin in releases:
        made.update(_twisted_version(target, base, info, version, pin))
    return {**recorded_environments(target, name), **made}


def _twisted_version(target: SetupTarget, base: Base, info: dict, twisted_version: str, pin: Pin) -> dict:
    name = target.tool
    venv = target.path("venvs", venv_name(name, twisted_version))
    python = posixpath.join(venv, "bin", "python")
    key = {"base": base.identity, "twisted": pin.sha256}
    marker = target.read_marker(venv)
    if not target.force and marker and marker.get("key") == key and _still_runs(target, venv, marker["entries"]):
        target.say(f"in place: {venv} ({_summary(marker['entries'], name)})")
        return marker["entries"]
    try:
        sdist = target.obtain(pin)
    except Unavailable as exc:  # Twisted has no fallback
        raise BenchError(f"{exc}: {pin.fetch_hint(target.cache)} and run again") from None
    wheels, index, fetched = _dependencies(target, info, twisted_version)
    log = target.start_log(venv_name(name, twisted_version))
    target.host.run(f"rm -rf {shlex.quote(venv)}")
    target.say(f"creating {venv} with {base.executable} (Python {info['python']})")
    target.run_logged(f"{shlex.quote(base.executable)} -m venv {shlex.quote(venv)}", log, f"creating {venv}")
    target.run_logged(f"{shlex.quote(python)} -m pip --version", log, f"pip in {venv}")
    options = ["--no-input", "--disable-pip-version-check"]
    options += [] if index else ["--no-index"]
    options += ["--find-links", wheels] if wheels else []
    target.say(f"installing Twisted {twisted_version} from {pin.file} "
             f"(dependencies from {'the package index' if index else wheels or 'nowhere: setup.pip_index is false'})")
    try:
        target.run_logged(f"{shlex.quote(python)} -m pip install {' '.join(map(shlex.quote, options))} {shlex.quote(sdist)}",
                        log, f"installing Twisted {twisted_version} into {venv}")
    except BenchError as exc:
        offline = (f"; a host without the package index needs Twisted's dependencies in {target.cache}/wheels "
                   f"and setup.pip_index: false (see invoke.yaml)")
        raise BenchError(f"{exc}{offline if index else ''}") from None
    _, python_said = target.capture([python, "--version"])
    ok, twist_said = target.capture([posixpath.join(venv, "bin", "twist"), "--version"])
    if not ok:
        raise BenchError(f"twist --version fails in {venv}: {twist_said}; full log: {log}")
    installed = now_utc()
    entries = {
        name: {"name": name, "version": info["pypy"] or info["python"], "python": info["python"],
               "implementation": info["implementation"], "source": base.source, "base": base.executable,
               "path": base.executable, "version_output": python_said, "installed": installed},
        f"twisted-{venv_name(name, twisted_version)}": {
            "name": "twisted", "version": twisted_version, "interpreter": name,
            "source": {**tarball_source(pin), "dependencies": fetched or ("package index" if index else "cache only")},
            "path": venv, "version_output": twist_said, "installed": installed},
    }
    target.write_marker(venv, key, entries)
    target.say(f"ready: {_summary(entries, name)}")
    return entries


def _dependencies(target: SetupTarget, info: dict, twisted_version: str) -> tuple[str | None, bool, dict | None]:
    """Where the host's pip finds Twisted's dependencies: (a find-links folder there, whether it may use
    the package index, what was fetched for it). A lab host gets them from this machine, fetched for its
    interpreter and uploaded, as it may have no route to the index; this machine uses the index
    (setup.pip_index) and CACHE/wheels."""
    if target.host.is_local:
        return target.wheels(), bool(target.settings.get("pip_index", True)), None
    folder = dependencies.fetch(target.cache, info["implementation"], info["python"], twisted_version, target.say)
    files = dependencies.hashes(folder)
    return target.wheels(folder), False, {"fetched": f"by the controller for {folder.name}", "sha256": files}


def _still_runs(target: SetupTarget, venv: str, entries: dict) -> bool:
    ok, python_said = target.capture([posixpath.join(venv, "bin", "python"), "--version"])
    ok2, twist_said = target.capture([posixpath.join(venv, "bin", "twist"), "--version"])
    return (ok and ok2 and python_said == entries[target.tool]["version_output"]
            and twist_said == _twisted_entry(entries)["version_output"])


def _twisted_entry(entries: dict) -> dict:
    return next(entry for entry in entries.values() if entry.get("name") == "twisted")


def _summary(entries: dict, name: str) -> str:
    interpreter = entries[name]
    return (f"{interpreter['implementation']} {interpreter['version']} (Python {interpreter['python']}), "
            f"Twisted {_twisted_entry(entries)['version']}")


def recorded_environments(target: SetupTarget, tool: str) -> dict:
    """The manifest entries of every complete environment of interpreter ``tool``, those made before included."""
    listed = f"ls -d {shlex.quote(target.path('venvs', tool))}-*/ 2>/dev/null"
    venvs = target.host.run(listed, warn=True).stdout.split()
    entries = {}
    for marker in filter(None, (target.read_marker(venv.rstrip("/")) for venv in sorted(venvs))):
        entries.update(marker["entries"])
    return entries
