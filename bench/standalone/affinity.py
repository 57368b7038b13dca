"""Pinning server.py's processes to CPUs (``--cpus``): worker i on cpus[i % len(cpus)].

Standard library only, Python 3.9: it ships to the lab host beside server.py. Debian's
PyPy 3.9 has no ``os.sched_setaffinity``, so libc's is called through ctypes there.
"""
from __future__ import annotations

import ctypes
import os
import re

_ITEM = re.compile(r"^(\d+)(?:-(\d+))?$")
_SET_BYTES = 128  # glibc's cpu_set_t: 1024 CPUs


def parse_cpu_list(text: str) -> tuple:
    """The CPUs in a Linux CPU list such as ``"0,2-3"``, sorted and unique; ValueError if malformed.

    The same syntax as bench.measure.cpus, which this folder must not import.
    """
    cpus = set()
    for item in text.split(","):
        match = _ITEM.match(item.strip())
        if not match or (match.group(2) is not None and int(match.group(2)) < int(match.group(1))):
            raise ValueError(f"bad CPU list {text!r}: write it as 0,2-3")
        last = match.group(2) if match.group(2) is not None else match.group(1)
        cpus.update(range(int(match.group(1)), int(last) + 1))
    return tuple(sorted(cpus))


def worker_cpu(cpus: tuple, index: int) -> int:
    """The CPU worker ``index`` runs on: the list is dealt out round-robin."""
    return cpus[index % len(cpus)]


def allowed_cpus() -> set:
    """The CPUs this process may run on now."""
    if hasattr(os, "sched_getaffinity"):
        return set(os.sched_getaffinity(0))
    mask = (ctypes.c_ubyte * _SET_BYTES)()
    if _libc().sched_getaffinity(0, _SET_BYTES, mask) != 0:
        _raise_errno()
    return {cpu for cpu in range(_SET_BYTES * 8) if mask[cpu // 8] >> (cpu % 8) & 1}


def pin(cpus) -> None:
    """Restrict this process (and the children it starts later) to ``cpus``; OSError if refused."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(cpus))
        return
    mask = (ctypes.c_ubyte * _SET_BYTES)()
    for cpu in cpus:
        if cpu >= _SET_BYTES * 8:
            raise OSError(22, f"CPU {cpu} is beyond the {_SET_BYTES * 8} CPUs a cpu_set_t holds")
        mask[cpu // 8] |= 1 << (cpu % 8)
    if _libc().sched_setaffinity(0, _SET_BYTES, mask) != 0:
        _raise_errno()


def _libc():
    # The process's own symbols include libc's; no find_library, which may run a compiler.
    return ctypes.CDLL(None, use_errno=True)


def _raise_errno():
    code = ctypes.get_errno()
    raise OSError(code, os.strerror(code))


def pin_process(cpus: tuple, worker) -> str | None:
    """Pin this process for ``--cpus``: worker ``worker`` to its one CPU, the master (None) to them all.

    Nothing happens without ``--cpus``. Returns None, or one line saying why the kernel refused.
    """
    if not cpus:
        return None
    chosen = set(cpus) if worker is None else {worker_cpu(cpus, worker)}
    try:
        pin(chosen)
    except OSError as exc:
        who = "the master" if worker is None else f"worker {worker}"
        listed = ",".join(map(str, sorted(chosen)))
        return f"cannot pin {who} to CPU {listed}: {exc.strerror or exc}; pick --cpus from the CPUs this host allows"
    return None


def placement(cpus: tuple, worker: int) -> dict:
    """The event fields that say where worker ``worker`` runs: ``{"cpu": N}``, or {} without ``--cpus``."""
    return {"cpu": worker_cpu(cpus, worker)} if cpus else {}
