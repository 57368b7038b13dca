"""How each tool gets onto a host: one step per tool, each returning manifest entries.

- nginx, wrk: the distribution's packages.
- pypy: the pinned binary tarball for the host's architecture, extracted into the
  prefix; when it cannot be had, Debian's ``pypy3`` (announced, recorded as a fallback).
- cpython: the host's ``python3``.
- Both interpreters get a virtual environment per Twisted version (``venvs/<interpreter>-<version>``),
  each from its sdist: the versions asked for (``--twisted``, bench.twisted), else the newest pinned
  release that supports the interpreter's Python.
- weighttp: built from its source tarball into the prefix; without the tarball,
  `inv bench` uses wrk (announced, recorded as a fallback).

A step first checks the ``.complete`` marker of what is in place: when it was made from
the same pins and still runs, the step changes nothing (unless ``--force``).
"""
from __future__ import annotations

import json
import posixpath
import re
import shlex
from dataclasses import dataclass

from bench.clock import now_utc
from bench.errors import BenchError
from bench.manifest import describe_source, venv_name

from . import dependencies
from .tarballs import Pin, Unavailable
from .target import SetupTarget

QUERY = ("import json, platform, sys; v = getattr(sys, 'pypy_version_info', None); "
         "print(json.dumps({'python': platform.python_version(), 'implementation': platform.python_implementation(), "
         "'pypy': '.'.join(map(str, v[:3])) if v else None, 'executable': sys.executable}))")


# -- planning (pure) ---------------------------------------------------------------

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


def pypy_pin(spec: dict, arch: str) -> Pin:
    """The PyPy tarball pinned for ``arch`` (``uname -m``)."""
    pinned = spec.get("tarballs") or {}
    if arch not in pinned:
        raise Unavailable(f"no PyPy tarball is pinned for the {arch} architecture (pinned: "
                          f"{', '.join(pinned) or 'none'}); add one under setup.pypy.tarballs")
    return Pin.from_config(pinned[arch], f"setup.pypy.tarballs.{arch}")


def weighttp_release(spec: dict) -> tuple[str, dict, Pin]:
    """The weighttp release selected by ``setup.weighttp.version``: (version, its data, pin)."""
    version = str(spec["version"])
    releases = {str(key): value for key, value in (spec.get("releases") or {}).items()}
    if version not in releases:
        raise BenchError(f"setup.weighttp.version is {version}, but setup.weighttp.releases pins only "
                         f"{', '.join(releases) or 'none'}: pick one of those or pin {version}")
    release = releases[version]
    if not release.get("build"):
        raise BenchError(f"setup.weighttp.releases.{version} has no build commands")
    return version, release, Pin.from_config(release, f"setup.weighttp.releases.{version}")


def first_version(text: str) -> str | None:
    """The first dotted version number in a tool's --version output."""
    match = re.search(r"\d+(?:\.\d+)+", text)
    return match.group(0) if match else None


def tarball_source(pin: Pin) -> dict:
    return {"kind": "tarball", "url": pin.url, "sha256": pin.sha256, "file": pin.file}


def fallback_source(pin: Pin | None, cache, reason: str, **instead) -> dict:
    source = {"kind": "fallback", "reason": reason}
    if pin is not None:
        source["fetch"] = {"url": pin.url, "into": str(cache), "file": pin.file}
    return {**source, **instead}


def keys(tool: str, entries: dict) -> list[str]:
    """The manifest keys a tool's step owns (an interpreter's: its Twisted environments' too)."""
    return [key for key in entries if key in (tool, f"twisted-{tool}") or key.startswith(f"twisted-{tool}-")]


# -- nginx, wrk ----------------------------------------------------------------------

def distro_tool(target: SetupTarget) -> dict:
    spec = target.settings[target.tool]
    versions = target.ensure_packages(spec["packages"], [spec["command"]])
    path = target.which(spec["command"])
    if path is None:
        raise BenchError(f"{spec['command']} is not on {target.host}'s PATH after installing {' '.join(spec['packages'])}")
    _, said = target.capture([path, *spec["version_args"]])
    said = said.splitlines()[0] if said else ""  # wrk goes on with its usage
    package = spec["packages"][0]
    source = ({"kind": "distro", "package": package, "version": versions[package]} if package in versions
              else {"kind": "system", "path": path})
    target.say(f"{describe_source(source)}: {said or '(no version output)'}")
    return {target.tool: {"name": target.tool, "version": first_version(said), "source": source, "path": path,
                        "version_output": said}}


# -- interpreters and Twisted ---------------------------------------------------------

@dataclass(frozen=True)
class Base:
    """The interpreter an environment is made from: its path, where it came from, and
    what identifies it (a changed identity rebuilds the environment)."""

    executable: str
    source: dict
    identity: object


def pypy(target: SetupTarget) -> dict:
    spec = target.settings["pypy"]
    pin = None
    try:
        pin = pypy_pin(spec, target.arch)
        base = pypy_home(target, spec, pin)
    except Unavailable as exc:
        base = pypy_fallback(target, spec, pin, str(exc))
    return twisted_venv(target, base)


def pypy_home(target: SetupTarget, spec: dict, pin: Pin) -> Base:
    """The pinned PyPy extracted into ``PREFIX/tools/<tarball name>``."""
    home = target.path("tools", pin.stem)
    executable = posixpath.join(home, spec["executable"])
    source = {**tarball_source(pin), "version": str(spec["version"])}
    marker = target.read_marker(home)
    if not target.force and marker and marker.get("key") == pin.sha256 and target.capture([executable, "--version"])[0]:
        return Base(executable, source, pin.sha256)
    tarball = target.obtain(pin)
    target.ensure_packages(spec.get("packages", []))
    log = target.start_log("pypy")
    target.say(f"extracting {pin.file} into {home}")
    extract(target, tarball, home, log, what=f"extracting {pin.file}")
    if not target.host.run(f"test -x {shlex.quote(executable)}", warn=True).ok:
        target.host.run(f"rm -rf {shlex.quote(home)}")
        raise BenchError(f"{pin.file} has no {spec['executable']}: check the pin (setup.pypy) or setup.pypy.executable")
    target.write_marker(home, pin.sha256, {})
    return Base(executable, source, pin.sha256)


def pypy_fallback(target: SetupTarget, spec: dict, pin: Pin | None, reason: str) -> Base:
    fallback = spec["fallback"]
    target.say(f"cannot use the pinned PyPy: {reason}")
    if pin is not None:
        target.say(f"to use it: {pin.fetch_hint(target.cache)}, then run `inv setup --only pypy`")
    try:
        versions = target.ensure_packages(fallback["packages"], [fallback["python"]])
    except BenchError as exc:
        raise BenchError(f"{reason}; and no fallback: {exc}") from None
    executable = target.which(fallback["python"])
    if executable is None:
        raise BenchError(f"{reason}; and no fallback: {fallback['python']} is not on {target.host}")
    package = fallback["packages"][0]
    _, said = target.capture([executable, "--version"])
    version = versions.get(package)
    target.say(f"FALLBACK: {package} {version or said.splitlines()[0]} from the distribution")
    source = fallback_source(pin, target.cache, reason, package=package, version=version or first_version(said))
    return Base(executable, source, {"package": package, "version": version, "python": said})


def cpython(target: SetupTarget) -> dict:
    spec = target.settings["cpython"]
    versions = target.ensure_packages(spec.get("packages", []), [spec["python"]])
    command = target.which(spec["python"])
    if command is None:
        raise BenchError(f"{spec['python']} is not on {target.host}: install Python >= {spec['minimum']}, "
                         f"or set setup.cpython.python to one")
    info = query(target, command)
    if version_tuple(info["python"]) < version_tuple(spec["minimum"]):
        raise BenchError(f"{command} on {target.host} is Python {info['python']}; the CPython environment needs "
                         f">= {spec['minimum']}: install a newer Python and set setup.cpython.python to it")
    executable = info["executable"]
    owner = target.host.run(f"dpkg-query -S {shlex.quote(executable)} 2>/dev/null", warn=True).stdout
    package = owner.split(":")[0].strip() if target.debian and owner else None
    if package and package not in versions:
        versions.update(target.ensure_packages([package]))
    source = ({"kind": "distro", "package": package, "version": versions.get(package)} if package
              else {"kind": "system", "path": executable})
    return twisted_venv(target, Base(executable, source, {"python": executable, "version": info["python"]}))


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
    return {**recorded(target, name), **made}


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


# -- weighttp ----------------------------------------------------------------------

def weighttp(target: SetupTarget) -> dict:
    version, release, pin = weighttp_release(target.settings["weighttp"])
    home = target.path("tools", f"weighttp-{version}")
    link = target.path("bin", "weighttp")
    key = {"sha256": pin.sha256, "build": release["build"]}
    marker = target.read_marker(home)
    if not target.force and marker and marker.get("key") == key and _linked(target, link, home):
        ok, said = target.capture([link, *release.get("version_args", [])])
        if ok and said == marker["entries"]["weighttp"]["version_output"]:
            target.say(f"in place: {link} -> weighttp {version}")
            return marker["entries"]
    try:
        tarball = target.obtain(pin)
    except Unavailable as exc:
        target.say(f"cannot get {pin.file}: {exc}")
        target.say(f"to use it: {pin.fetch_hint(target.cache)}, then run `inv setup --only weighttp`")
        target.say("FALLBACK: `inv bench` uses wrk instead of weighttp")
        target.host.run(f"rm -f {shlex.quote(link)}")
        return {"weighttp": {"name": "weighttp", "version": None, "pinned": version, "path": None,
                             "source": fallback_source(pin, target.cache, str(exc), instead="wrk")}}
    target.ensure_packages(release.get("packages", []))
    return build_weighttp(target, version, release, pin, tarball, key)


def build_weighttp(target: SetupTarget, version: str, release: dict, pin: Pin, tarball: str, key) -> dict:
    """Build in a temporary folder, install into a staging folder, check the binary
    runs, then move it into place and point ``PREFIX/bin/weighttp`` at it."""
    home = target.path("tools", f"weighttp-{version}")
    link = target.path("bin", "weighttp")
    log = target.start_log(f"weighttp-{version}")
    build, stage = target.host.run(
        f"cd {shlex.quote(target.prefix)} && mkdir -p build tools bin && "
        f"mktemp -d {shlex.quote(target.path('build', f'weighttp-{version}.XXXXXX'))} && "
        f"mktemp -d {shlex.quote(target.path('tools', f'.weighttp-{version}.XXXXXX'))}").stdout.split()
    try:
        target.say(f"building weighttp {version} from {pin.file} (log: {log})")
        extract(target, tarball, build, log, what=f"extracting {pin.file}")
        for command in release["build"]:
            target.run_logged(command.replace("{prefix}", shlex.quote(stage)), log,
                            f"building weighttp {version}: `{command}`", cwd=build)
        binary = posixpath.join(stage, "bin", "weighttp")
        ok, said = target.capture([binary, *release.get("version_args", [])])
        if not ok:
            raise BenchError(f"the weighttp {version} build installed no working bin/weighttp ({said[-200:] or 'no output'}); "
                             f"check setup.weighttp.releases.{version}.build; full log: {log}")
        entries = {"weighttp": {"name": "weighttp", "version": first_version(said) or version, "pinned": version,
                                "source": tarball_source(pin), "path": link,
                                "version_output": said, "installed": now_utc()}}
        target.write_marker(stage, key, entries)
        target.host.run(f"rm -rf {shlex.quote(home)} && mv {shlex.quote(stage)} {shlex.quote(home)} && "
                      f"ln -sfn {shlex.quote(posixpath.join(home, 'bin', 'weighttp'))} {shlex.quote(link + '.new')} && "
                      f"mv -Tf {shlex.quote(link + '.new')} {shlex.quote(link)}")
    finally:
        target.host.run(f"rm -rf {shlex.quote(build)} {shlex.quote(stage)}", warn=True)
    target.say(f"ready: {link} -> {said.splitlines()[0] if said else version}")
    return entries


def _linked(target: SetupTarget, link: str, home: str) -> bool:
    linked = target.host.run(f"readlink {shlex.quote(link)}", warn=True).stdout.strip()
    return linked == posixpath.join(home, "bin", "weighttp")


def extract(target: SetupTarget, tarball: str, into: str, log: str, what: str) -> None:
    """Unpack ``tarball`` into ``into``, without its single top-level folder.

    Unpacks beside ``into`` first and moves the result into place, so ``into``
    appears whole or not at all.
    """
    parent = posixpath.dirname(into)
    script = (
        f"mkdir -p {shlex.quote(parent)} && s=$(mktemp -d {shlex.quote(posixpath.join(parent, '.unpack.XXXXXX'))}) && "
        f"{{ tar -xf {shlex.quote(tarball)} -C \"$s\" --no-same-owner && top=$(ls -A \"$s\") && src=\"$s\" && "
        f"if [ \"$(ls -A \"$s\" | wc -l)\" = 1 ] && [ -d \"$s/$top\" ]; then src=\"$s/$top\"; fi && "
        f"rm -rf {shlex.quote(into)} && mv \"$src\" {shlex.quote(into)}; }}; rc=$?; rm -rf \"$s\"; exit $rc"
    )
    target.run_logged(script, log, what)


# -- after a failure ----------------------------------------------------------------

def recorded(target: SetupTarget, tool: str) -> dict:
    """What is still completely installed for ``tool`` after its step failed."""
    if tool in ("pypy", "cpython"):
        listed = f"ls -d {shlex.quote(target.path('venvs', tool))}-*/ 2>/dev/null"
        venvs = target.host.run(listed, warn=True).stdout.split()
        entries = {}
        for marker in filter(None, (target.read_marker(venv.rstrip("/")) for venv in sorted(venvs))):
            entries.update(marker["entries"])
        return entries
    if tool == "weighttp":
        linked = target.host.run(f"readlink {shlex.quote(target.path('bin', 'weighttp'))}", warn=True).stdout.strip()
        marker = target.read_marker(posixpath.dirname(posixpath.dirname(linked))) if linked else None
        return marker["entries"] if marker else {}
    return {}


STEPS = {"nginx": distro_tool, "wrk": distro_tool, "pypy": pypy, "cpython": cpython, "weighttp": weighttp}
