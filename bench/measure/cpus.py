"""CPU lists for partitioning one host: the server on some CPUs, the load generator on others.

The lists use Linux's syntax (as in ``taskset -c`` and ``/proc/*/status``'s
``Cpus_allowed_list``): ``0``, ``1-3``, ``0,2-3``. Pure: nothing here asks a host
anything, the caller gives the host's online CPU count.
"""
from __future__ import annotations

import re

from bench.errors import BenchError

_ITEM = re.compile(r"^(\d+)(?:-(\d+))?$")


def parse_cpus(text: str) -> tuple[int, ...]:
    """The CPUs in a Linux CPU list such as ``"0,2-3"``: sorted and unique."""
    cpus: set[int] = set()
    for item in text.split(","):
        match = _ITEM.match(item.strip())
        if not match:
            raise _bad(text)
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        if last < first:
            raise _bad(text)
        cpus.update(range(first, last + 1))
    return tuple(sorted(cpus))


def _bad(text: str) -> BenchError:
    return BenchError(f"bad CPU list {text!r}: write it as 0,2-3 (CPU numbers and ranges, comma-separated)")


def format_cpus(cpus) -> str:
    """The compact Linux form of some CPUs, e.g. ``(0, 2, 3)`` -> ``"0,2-3"``."""
    ranges: list[list[int]] = []
    for cpu in sorted(set(cpus)):
        if ranges and cpu == ranges[-1][1] + 1:
            ranges[-1][1] = cpu
        else:
            ranges.append([cpu, cpu])
    return ",".join(str(first) if first == last else f"{first}-{last}" for first, last in ranges)


def check_partition(server: tuple[int, ...], load: tuple[int, ...], online: int) -> None:
    """Refuse a partition that cannot keep the server and the load generator apart.

    Both empty is no partitioning at all, which is fine; one alone is not, as the other
    side would then run on every CPU, the partitioned ones included.
    """
    if not server and not load:
        return
    if not server or not load:
        given, missing = ("--server-cpus", "--load-cpus") if server else ("--load-cpus", "--server-cpus")
        raise BenchError(f"{given} needs {missing} too: give both, on disjoint CPUs (e.g. --server-cpus 1 --load-cpus 0)")
    shared = sorted(set(server) & set(load))
    if shared:
        raise BenchError(f"{_named(shared)} in both --server-cpus and --load-cpus: give them disjoint CPUs")
    beyond = sorted(cpu for cpu in set(server) | set(load) if cpu >= online)
    if beyond:
        raise BenchError(f"{_named(beyond)} not on this host, which has {online} CPUs "
                         f"({format_cpus(range(online))}): pick CPUs below {online}")


def _named(cpus: list[int]) -> str:
    """'CPU 3 is' or 'CPUs 2-3 are', for a message."""
    return f"CPU {cpus[0]} is" if len(cpus) == 1 else f"CPUs {format_cpus(cpus)} are"
