"""`inv setup`: provide the lab's tools on a host from pinned tarballs, and record them.

Layout under the prefix (``setup.prefix``, expanded on the host)::

    venvs/pypy-26.4.0/        PyPy environment with Twisted 26.4.0 (from its sdist), one per version
    venvs/cpython-26.10.0/    CPython environment with Twisted 26.10.0
    bin/weighttp              a load generator built from its tarball (a link into tools/)
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
import time
from typing import Callable, Mapping

from bench.clock import now_utc
from bench.config import plain
from bench.errors import BenchError
from bench.hosts import Host
from bench.manifest import MANIFEST, describe_source, read_manifest
from bench.measure import load_generator, setup_steps

from . import tools
from .target import SetupTarget



# -- the run ---------------------------------------------------------------------

def tool_names(settings: Mapping, servers=None) -> tuple[str, ...]:
    """Every tool `inv setup` provides, in setup order: the steps of the server kinds named (each kind says which;
    every kind's without names), then setup.loadgens (each a known load generator)."""
    loadgens = tuple(settings.get("loadgens") or ())
    for name in loadgens:
        load_generator(name)
    return (*setup_steps(servers), *loadgens)


def parse_only(text: str | None, tools: tuple[str, ...]) -> tuple[str, ...]:
    """``--only pypy,weighttp`` -> the tools named, in setup order; None -> all of ``tools``."""
    if not text:
        return tools
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in tools]
    if unknown or not names:
        raise BenchError(f"unknown tool {', '.join(unknown) or repr(text)} in --only: choose from {', '.join(tools)}")
    return tuple(name for name in tools if name in names)


def setup_host(host: Host, config: Mapping, only=None, force: bool = False, log: Callable[[str], None] = print,
               servers=None, twisted: tuple[str, ...] = ()) -> dict:
    """Provide the tools of ``servers``' kinds (bench.servers; every kind's without) and the load generators
    (all, or those named in ``only``) on ``host``; return its manifest.

    ``config`` is the ``setup`` section of invoke.yaml; ``twisted`` the Twisted versions each interpreter
    gets (none: the newest its Python meets). A tool already in place is kept unless ``force``. Every
    tool is attempted; when any failed, the manifest still records the others and a :class:`BenchError`
    names the failures.
    """
    settings = plain(config)
    names = parse_only(only if isinstance(only, (str, type(None))) else ",".join(only), tool_names(settings, servers))
    started = time.monotonic()
    target = SetupTarget.open(host, settings, force, log, twisted=twisted)
    log(f"setup on {host} ({target.hostname}, {target.arch}, {target.os_name}): prefix {target.prefix}, cache {target.cache}")
    previous = read_manifest(host, target.prefix)
    entries = dict(previous.get("tools", {}))
    failures = []
    for name in names:
        target.tool = name
        step_started = time.monotonic()
        before = {key: entries.pop(key) for key in tools.keys(name, entries)}
        try:
            made, status = tools.step(name)(target), None
        except BenchError as exc:
            failures.append(f"{name}: {exc}")
            target.say(f"FAILED: {exc}")
            made, status = tools.recorded(target, name), "FAILED"
        entries.update(made)
        fallback = any(entry.get("source", {}).get("kind") == "fallback" for entry in made.values())
        status = status or ("unchanged" if made == before else "done") + (", FALLBACK" if fallback else "")
        target.say(f"{status} ({time.monotonic() - step_started:.1f}s)")
    manifest = {
        "host": str(host), "hostname": target.hostname, "arch": target.arch, "os": target.os_name,
        "prefix": target.prefix, "tools": entries,
    }
    changed = manifest != {k: v for k, v in previous.items() if k != "written"}
    manifest["written"] = now_utc() if changed else previous.get("written", now_utc())
    path = target.path(MANIFEST)
    if changed:
        host.write_text(path, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    target.tool = ""
    for line in format_manifest(manifest, names):
        log(f"  {line}")
    log(f"manifest {host}:{path} {'written' if changed else 'unchanged'}; "
        f"setup on {host} took {time.monotonic() - started:.1f}s")
    if failures:
        raise BenchError(f"setup on {host} failed for {'; '.join(failures)}")
    return manifest


# -- rendering (pure) --------------------------------------------------------------

def format_manifest(manifest: dict, order: tuple[str, ...] = ()) -> list[str]:
    """The manifest as a table: tool, version, source, path; the tools in ``order`` first, as set up."""
    rows = [(name, str(entry.get("version") or "-"), describe_source(entry.get("source", {})), entry.get("path") or "-")
            for name, entry in sorted(manifest.get("tools", {}).items(), key=lambda item: _order(item[0], order))]
    if not rows:
        return ["(no tools installed)"]
    widths = [max(len(row[i]) for row in rows + [("tool", "version", "source", "path")]) for i in range(3)]
    lines = [f"{'tool':<{widths[0]}}  {'version':<{widths[1]}}  {'source':<{widths[2]}}  path"]
    lines += [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:<{widths[2]}}  {d}" for a, b, c, d in rows]
    return lines


def _order(name: str, order: tuple[str, ...]) -> tuple:
    base = name.split("-")[1] if name.startswith("twisted-") else name
    return (order.index(base) if base in order else len(order), name)
