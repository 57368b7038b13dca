"""How each tool gets onto a host: one step per tool, each returning manifest entries.

- nginx: the distribution's package.
- pypy: the pinned binary tarball for the host's architecture, extracted into the
  prefix; when it cannot be had, Debian's ``pypy3`` (announced, recorded as a fallback).
- cpython: the host's ``python3``.
- Both interpreters get a virtual environment per Twisted version (``venvs/<interpreter>-<version>``),
  each from its sdist: the versions asked for (``--twisted``, bench.twisted), else the newest pinned
  release that supports the interpreter's Python.
- each load generator of setup.loadgens, as its module says (its ``setup``): the
  distribution's package (wrk, h2load), or built from its pinned source tarball into the
  prefix (weighttp, wrk2); without the tarball, `inv bench` uses the next load generator of
  setup.loadgens (announced, recorded as a fallback).

A step first checks the ``.complete`` marker of what is in place: when it was made from
the same pins and still runs, the step changes nothing (unless ``--force``).
"""
from __future__ import annotations

import posixpath
import re
import shlex

from bench.clock import now_utc
from bench.errors import BenchError
from bench.manifest import describe_source
from bench.measure import capabilities, load_generator

from .tarballs import Pin, Unavailable, tarball_source
from .target import SetupTarget
from .venvs import Base, query, recorded_environments, twisted_venv, version_tuple

# -- planning (pure) ---------------------------------------------------------------

def pypy_pin(spec: dict, arch: str) -> Pin:
    """The PyPy tarball pinned for ``arch`` (``uname -m``)."""
    pinned = spec.get("tarballs") or {}
    if arch not in pinned:
        raise Unavailable(f"no PyPy tarball is pinned for the {arch} architecture (pinned: "
                          f"{', '.join(pinned) or 'none'}); add one under setup.pypy.tarballs")
    return Pin.from_config(pinned[arch], f"setup.pypy.tarballs.{arch}")


def pinned_release(name: str, spec: dict) -> tuple[str, dict, Pin]:
    """The release of a built tool selected by ``setup.<name>.version``: (version, its data, pin)."""
    version = str(spec["version"])
    releases = {str(key): value for key, value in (spec.get("releases") or {}).items()}
    if version not in releases:
        raise BenchError(f"setup.{name}.version is {version}, but setup.{name}.releases pins only "
                         f"{', '.join(releases) or 'none'}: pick one of those or pin {version}")
    release = releases[version]
    if not release.get("build"):
        raise BenchError(f"setup.{name}.releases.{version} has no build commands")
    return version, release, Pin.from_config(release, f"setup.{name}.releases.{version}")


def stand_in(loadgens: list[str], name: str) -> str | None:
    """The load generator `inv bench` turns to when ``name`` is missing: the next one of setup.loadgens."""
    later = list(loadgens)[list(loadgens).index(name) + 1:] if name in loadgens else []
    return later[0] if later else None


def first_version(text: str) -> str | None:
    """The first dotted version number in a tool's --version output."""
    match = re.search(r"\d+(?:\.\d+)+", text)
    return match.group(0) if match else None


def fallback_source(pin: Pin | None, cache, reason: str, **instead) -> dict:
    source = {"kind": "fallback", "reason": reason}
    if pin is not None:
        source["fetch"] = {"url": pin.url, "into": str(cache), "file": pin.file}
    return {**source, **instead}


def keys(tool: str, entries: dict) -> list[str]:
    """The manifest keys a tool's step owns (an interpreter's: its Twisted environments' too)."""
    return [key for key in entries if key in (tool, f"twisted-{tool}") or key.startswith(f"twisted-{tool}-")]


# -- the distribution's packages: nginx, wrk, h2load ----------------------------------

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


# -- interpreters (each with its Twisted environments: venvs.py) ------------------------

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


# -- a load generator built from its pinned tarball: weighttp, wrk2 ------------------------------

def built_tool(target: SetupTarget) -> dict:
    name = target.tool
    version, release, pin = pinned_release(name, target.settings[name])
    home = target.path("tools", f"{name}-{version}")
    link = target.path("bin", name)
    key = {"sha256": pin.sha256, "build": release["build"]}
    marker = target.read_marker(home)
    if not target.force and marker and marker.get("key") == key and _linked(target, link, home):
        ok, said = target.capture([link, *release.get("version_args", [])])
        if answers(name, ok, said) and said == marker["entries"][name]["version_output"]:
            target.say(f"in place: {link} -> {name} {version}")
            return marker["entries"]
    try:
        tarball = target.obtain(pin)
    except Unavailable as exc:
        instead = stand_in(target.settings.get("loadgens") or [], name)
        target.say(f"cannot get {pin.file}: {exc}")
        target.say(f"to use it: {pin.fetch_hint(target.cache)}, then run `inv setup --only {name}`")
        needs = " (`inv bench --latency` needs it)" if capabilities(load_generator(name)).fixed_rate else ""
        target.say(f"FALLBACK: `inv bench` uses {instead} instead of {name}" if instead
                   else f"FALLBACK: none; `inv bench` runs without {name}{needs}")
        target.host.run(f"rm -f {shlex.quote(link)}")
        return {name: {"name": name, "version": None, "pinned": version, "path": None,
                       "source": fallback_source(pin, target.cache, str(exc), instead=instead)}}
    target.ensure_packages(release.get("packages", []))
    return build_pinned(target, version, release, pin, tarball, key)


def build_pinned(target: SetupTarget, version: str, release: dict, pin: Pin, tarball: str, key) -> dict:
    """Build in a temporary folder, install into a staging folder, check the binary
    runs, then move it into place and point ``PREFIX/bin/<name>`` at it."""
    name = target.tool
    home = target.path("tools", f"{name}-{version}")
    link = target.path("bin", name)
    log = target.start_log(f"{name}-{version}")
    build, stage = target.host.run(
        f"cd {shlex.quote(target.prefix)} && mkdir -p build tools bin && "
        f"mktemp -d {shlex.quote(target.path('build', f'{name}-{version}.XXXXXX'))} && "
        f"mktemp -d {shlex.quote(target.path('tools', f'.{name}-{version}.XXXXXX'))}").stdout.split()
    try:
        target.say(f"building {name} {version} from {pin.file} (log: {log})")
        extract(target, tarball, build, log, what=f"extracting {pin.file}")
        for command in release["build"]:
            target.run_logged(command.replace("{prefix}", shlex.quote(stage)), log,
                            f"building {name} {version}: `{command}`", cwd=build)
        binary = posixpath.join(stage, "bin", name)
        ok, said = target.capture([binary, *release.get("version_args", [])])
        if not answers(name, ok, said):
            raise BenchError(f"the {name} {version} build installed no working bin/{name} ({said[-200:] or 'no output'}); "
                             f"check setup.{name}.releases.{version}.build; full log: {log}")
        # The pin is its version (wrk2's is a commit; it calls itself wrk 4.0.0): what it says is kept beside.
        entries = {name: {"name": name, "version": version, "pinned": version,
                          "source": tarball_source(pin), "path": link,
                          "version_output": said, "installed": now_utc()}}
        target.write_marker(stage, key, entries)
        target.host.run(f"rm -rf {shlex.quote(home)} && mv {shlex.quote(stage)} {shlex.quote(home)} && "
                      f"ln -sfn {shlex.quote(posixpath.join(home, 'bin', name))} {shlex.quote(link + '.new')} && "
                      f"mv -Tf {shlex.quote(link + '.new')} {shlex.quote(link)}")
    finally:
        target.host.run(f"rm -rf {shlex.quote(build)} {shlex.quote(stage)}", warn=True)
    target.say(f"ready: {link} -> {said.splitlines()[0] if said else version}")
    return entries


def answers(name: str, ok: bool, said: str) -> bool:
    """A built load generator asked its version: it exited 0, or said it (wrk2 -v prints it, then exits 1)."""
    return ok or load_generator(name).read_version(said) is not None


def _linked(target: SetupTarget, link: str, home: str) -> bool:
    linked = target.host.run(f"readlink {shlex.quote(link)}", warn=True).stdout.strip()
    return linked == posixpath.join(home, "bin", target.tool)


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
        return recorded_environments(target, tool)
    linked = target.host.run(f"readlink {shlex.quote(target.path('bin', tool))}", warn=True).stdout.strip()
    marker = target.read_marker(posixpath.dirname(posixpath.dirname(linked))) if linked else None
    return marker["entries"] if marker else {}


STEPS = {"nginx": distro_tool, "pypy": pypy, "cpython": cpython}
RECIPES = {"package": distro_tool, "build": built_tool}  # a load generator's, by its module's ``setup``


def step(tool: str):
    """The step that provides ``tool``: its own, or a load generator's recipe."""
    return STEPS[tool] if tool in STEPS else RECIPES[load_generator(tool).setup]
