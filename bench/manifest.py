"""What `inv setup` leaves on a host, as the rest of the harness reads it: the manifest and the environments.

Layout under the prefix: ``venvs/<interpreter>-<Twisted version>/bin/python``, ``bin/<tool>``,
``manifest.json``; an install counts once its ``.complete`` marker is written.
"""
from __future__ import annotations

import json
import posixpath
import re
import shlex

from bench.errors import BenchError
from bench.hosts import Host

INTERPRETERS = ("pypy", "cpython")
MANIFEST = "manifest.json"
MARKER = ".complete"


def read_manifest(host: Host, prefix: str) -> dict:
    """The manifest `inv setup` wrote on ``host``; {} when there is none."""
    path = posixpath.join(host.expand(prefix), MANIFEST)
    if not host.exists(path):
        return {}
    try:
        return json.loads(host.read_text(path))
    except ValueError:
        raise BenchError(f"{host}:{path} is not valid JSON: run `inv setup` again to rewrite it") from None


def venv_name(interpreter: str, twisted: str) -> str:
    """``pypy-26.4.0``: the folder under ``venvs/`` of one interpreter's environment with one Twisted version."""
    return f"{interpreter}-{twisted}"


def environments(host: Host, prefix: str) -> dict[tuple[str, str], str]:
    """(interpreter, Twisted version) -> python of each complete environment on ``host``."""
    venvs = posixpath.join(host.expand(prefix), "venvs")
    script = (f"for venv in {shlex.quote(venvs)}/*/; do test -f \"$venv{MARKER}\" && test -x \"${{venv}}bin/python\" "
              f"&& basename \"$venv\"; done")
    found = {}
    for name in host.run(script, warn=True).stdout.split():
        match = re.fullmatch(rf"({'|'.join(INTERPRETERS)})-([0-9]+(?:\.[0-9]+)+)", name)
        if match:
            found[(match[1], match[2])] = posixpath.join(venvs, name, "bin", "python")
    return found


def tool_binary(host: Host, prefix: str, name: str) -> str | None:
    """``PREFIX/bin/NAME`` (e.g. weighttp) when `inv setup` built it, else None."""
    path = posixpath.join(host.expand(prefix), "bin", name)
    return path if host.run(f"test -x {shlex.quote(path)}", warn=True).ok else None


def loadgen_provenance(program: str, binary: str, manifest: dict, chosen: str | None, preferred: str) -> dict:
    """Where the load generator ``program`` at ``binary`` came from, by its host's manifest, and why the
    ``preferred`` one (the first of setup.loadgens) did not make the numbers when it did not:
    ``{"source": ..., "preferred": preferred, "replaced": reason or None}``."""
    tools = manifest.get("tools") or {}
    source = {"kind": "unrecorded", "path": binary}
    for entry in tools.values():
        if entry.get("path") and posixpath.normpath(entry["path"]) == posixpath.normpath(binary):
            source = dict(entry.get("source") or source)
    replaced = None
    if program != preferred:
        setup = (tools.get(preferred) or {}).get("source") or {}
        if chosen == program:
            replaced = f"{program} was chosen (--loadgen {program} or bench.loadgen)"
        elif setup.get("kind") == "fallback":
            replaced = f"{preferred} could not be built by `inv setup` ({setup.get('reason', 'no reason recorded')})"
        else:
            replaced = f"{preferred} is not installed: run `inv setup --only {preferred}`"
    return {"source": source, "preferred": preferred, "replaced": replaced}


def describe_source(source: dict) -> str:
    """One phrase for where a tool came from."""
    kind = source.get("kind")
    if kind == "tarball":
        return f"tarball {source.get('file', '?')} (sha256 {source.get('sha256', '?')[:12]}…)"
    if kind == "distro":
        return f"distro {source.get('package', '?')} {source.get('version')}"
    if kind == "fallback":
        instead = source.get("instead") or (f"{source['package']} {source.get('version')}" if source.get("package") else None)
        missing = f"pinned {source['fetch'].get('file', '?')} unavailable" if source.get("fetch") else "no pinned tarball"
        return f"FALLBACK to {instead} ({missing})" if instead else f"not installed ({missing})"
    if kind == "unrecorded":
        return f"not from `inv setup` ({source.get('path', '?')})"
    return f"{kind} {source.get('path', '')}".strip()
