"""Twisted's dependencies for a lab host that cannot reach the package index: fetched here, then uploaded.

Building Twisted's sdist needs hatchling and its plugins, running it needs attrs, zope.interface and
the rest; a lab host often has no route out. For each host interpreter (implementation and Python
X.Y), this machine's pip downloads them into ``CACHE/wheels/<implementation>-<X.Y>/``, run by an
interpreter of the same kind found here (in a scratch virtual environment, which brings pip), so pip
picks the files that interpreter can use, sdists included where no wheel fits. The host then installs
with ``--no-index`` from the uploaded copy, and the manifest records each file's sha256.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

from bench.errors import BenchError

from .tarballs import sha256_of

# What building the Twisted sdist needs beyond Twisted's own dependencies (its pyproject's build-system).
BUILD_REQUIREMENTS = ("hatchling", "hatch-fancy-pypi-readme", "incremental", "setuptools", "wheel")
QUERY = "import json, platform; print(json.dumps([platform.python_implementation(), platform.python_version()]))"


def folder_name(implementation: str, python: str) -> str:
    """``pypy-3.9``, ``cpython-3.11``: one folder per kind of interpreter."""
    return f"{implementation.lower()}-{'.'.join(python.split('.')[:2])}"


def candidates(implementation: str, python: str) -> list[str]:
    """Interpreters on this machine that may be of that kind, most specific first."""
    short = ".".join(python.split(".")[:2])
    names = [f"pypy{short}", "pypy3", "pypy"] if implementation == "PyPy" else [f"python{short}", "python3"]
    found = [shutil.which(name) for name in names] + ([sys.executable] if implementation == "CPython" else [])
    return list(dict.fromkeys(path for path in found if path))


def matching_interpreter(implementation: str, python: str) -> str | None:
    """An interpreter here with the same implementation and Python X.Y, or None."""
    short = python.split(".")[:2]
    for path in candidates(implementation, python):
        try:
            said = subprocess.run([path, "-c", QUERY], capture_output=True, text=True, timeout=60)
            kind, version = json.loads(said.stdout)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            continue
        if kind == implementation and version.split(".")[:2] == short:
            return path
    return None


def fetch(cache: Path, implementation: str, python: str, twisted_version: str,
          log: Callable[[str], None]) -> Path:
    """The folder (under ``cache``) holding what Twisted ``twisted_version`` needs on that interpreter,
    downloaded here by pip when not already complete."""
    folder = Path(cache) / "wheels" / folder_name(implementation, python)
    stamp = folder / f".complete-twisted-{twisted_version}"
    if stamp.exists():
        return folder
    python_here = matching_interpreter(implementation, python)
    if python_here is None:
        raise BenchError(
            f"the host's {implementation} {python} cannot reach the package index, and this machine has no "
            f"{implementation} {'.'.join(python.split('.')[:2])} to fetch Twisted's dependencies with: install one "
            f"here, or fill {folder}/ with `pip download twisted=={twisted_version} {' '.join(BUILD_REQUIREMENTS)}` "
            f"run by that Python on a machine with the index, then `touch {stamp}`")
    log(f"fetching Twisted {twisted_version}'s dependencies for {implementation} {python} with {python_here} "
        f"into {folder}/")
    scratch = Path(cache) / f".pip-{folder.name}"
    shutil.rmtree(scratch, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    pip = str(scratch / "bin" / "python")
    try:
        for argv, what in (([python_here, "-m", "venv", str(scratch)], f"making a scratch environment with {python_here}"),
                           ([pip, "-m", "pip", "download", "--disable-pip-version-check", "-q", "-d", str(folder),
                             f"twisted=={twisted_version}", *BUILD_REQUIREMENTS], "pip download")):
            done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
            if done.returncode != 0:
                tail = " | ".join(done.stderr.strip().splitlines()[-2:]) or "no output"
                raise BenchError(f"{what} for {implementation} {python} failed here: {tail}; check this machine's "
                                 f"access to the package index and run again")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for stray in folder.glob("twisted-*"):  # the pinned sdist is what gets installed, never an unpinned wheel
        stray.unlink()
    stamp.write_text("")
    return folder


def hashes(folder: Path) -> dict[str, str]:
    """file name -> sha256 of every dependency file in ``folder``, for the manifest."""
    return {path.name: sha256_of(path) for path in sorted(folder.iterdir())
            if path.is_file() and not path.name.startswith(".")}
