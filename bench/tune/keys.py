"""The sysctl keys tune may set: how the kernel prints each, which way it may move, and how far.

:data:`KEYS` is the allow-list: a key's shape (one number, several, or one word), its
direction (raise-only, widen-only, or any value in a range), the values a profile may not
give (unsafe), and for raise-only keys a ceiling, fixed or, where the value stands for
memory, a share of the host's RAM. Everything here is pure.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from bench.errors import BenchError

RAISE = "raise"  # a new value may not be lower than the current one, number by number
WIDEN = "widen"  # a range (low high) may only grow: low never up, high never down

INT_MAX = 2**31 - 1  # what the kernel stores most sysctls in: a larger value does not take
MiB, GiB = 2**20, 2**30


@dataclass(frozen=True)
class Ceiling:
    """The most a raise-only key may be set to, number by number; and where the value stands for
    memory, at most ``ram`` of the host's RAM, one unit being ``unit`` bytes ("page": its page size)."""

    most: tuple[int, ...]
    why: str
    ram: Fraction | None = None
    unit: int | str = 1


@dataclass(frozen=True)
class Key:
    """A sysctl key tune may set: how the kernel prints it and which way it may move."""

    name: str
    numbers: int | None  # how many numbers the kernel prints; None: one word
    only: str | None = None  # RAISE, WIDEN or None (any value in ``bounds``)
    bounds: tuple[int, int] | None = None  # lowest and highest number a profile may give
    unit: str = ""
    ceiling: Ceiling | None = None  # RAISE keys: how high a profile may go
    unsafe: tuple[tuple[int, str], ...] = ()  # values a profile may not give, each with why

    @property
    def is_global(self) -> bool:
        """Shared by the whole machine; only ``net.*`` keys belong to a network namespace."""
        return not self.name.startswith("net.")


QUEUE = Ceiling((INT_MAX,), "a queue length the kernel keeps in an int")
PER_SOCKET = Ceiling((16 * MiB,), "every socket starts with this many bytes of buffer; the kernel's default is 208 KiB")
SOCKET_MOST = Ceiling((GiB,), "one socket may take this many bytes of buffer")
TCP_BUFFER = Ceiling((MiB, 16 * MiB, GiB), "bytes a TCP socket keeps even under memory pressure, starts with, "
                                          "and may grow to")
KEYS = {key.name: key for key in (
    Key("fs.file-max", 1, RAISE, ceiling=Ceiling((2**63 - 1,), "a cap that reserves nothing: systemd's own default")),
    Key("fs.nr_open", 1, RAISE, ceiling=Ceiling((2147483584,), "the kernel's own maximum")),
    Key("fs.pipe-max-size", 1, RAISE, ceiling=Ceiling(
        (2**31,), "any user may grow a pipe to this many bytes of unswappable memory: at most an eighth of RAM",
        ram=Fraction(1, 8))),
    Key("net.core.somaxconn", 1, RAISE, ceiling=QUEUE),
    Key("net.core.netdev_max_backlog", 1, RAISE, ceiling=QUEUE),
    Key("net.core.optmem_max", 1, RAISE, ceiling=PER_SOCKET),
    Key("net.core.rmem_default", 1, RAISE, ceiling=PER_SOCKET),
    Key("net.core.rmem_max", 1, RAISE, ceiling=SOCKET_MOST),
    Key("net.core.wmem_default", 1, RAISE, ceiling=PER_SOCKET),
    Key("net.core.wmem_max", 1, RAISE, ceiling=SOCKET_MOST),
    Key("net.ipv4.tcp_max_syn_backlog", 1, RAISE, ceiling=QUEUE),
    Key("net.ipv4.tcp_max_orphans", 1, RAISE, ceiling=Ceiling(
        (INT_MAX,), "each orphan holds up to 64 KiB of unswappable memory: at most RAM's worth",
        ram=Fraction(1), unit=64 * 1024)),
    # Unprivileged ports only, so a server's well-known port is never handed out.
    Key("net.ipv4.ip_local_port_range", 2, WIDEN, (1024, 65535)),
    Key("net.ipv4.tcp_mem", 3, RAISE, ceiling=Ceiling(
        (2**63 - 1,) * 3, "TCP may take this many pages before it holds back: at most half of RAM",
        ram=Fraction(1, 2), unit="page")),
    Key("net.ipv4.tcp_rmem", 3, RAISE, ceiling=TCP_BUFFER),
    Key("net.ipv4.tcp_wmem", 3, RAISE, ceiling=TCP_BUFFER),
    Key("net.ipv4.tcp_congestion_control", None),
    # Flags OR'd with a queue length in the high bits (ip-sysctl.rst): any int the kernel takes.
    Key("net.ipv4.tcp_fastopen", 1, bounds=(0, INT_MAX)),
    Key("net.ipv4.tcp_low_latency", 1, bounds=(0, 1)),
    Key("net.ipv4.tcp_window_scaling", 1, bounds=(0, 1), unsafe=(
        (0, "it caps every TCP window at 64 KiB, so throughput falls with latency; keep 1"),)),
    Key("net.ipv4.tcp_syncookies", 1, bounds=(0, 2), unsafe=(  # off, on backlog overflow, always
        (0, "it turns SYN cookies off, so a SYN flood fills the listen queue and real clients are refused; "
            "use 1 (on overflow) or 2"),)),
    Key("net.ipv4.tcp_tw_reuse", 1, bounds=(0, 2)),  # off, on, loopback only
    # FIN-WAIT-2 seconds: 0 is no timeout at all, and 120 is the kernel's own cap for the
    # same timeout per socket (TCP_LINGER2, TCP_FIN_TIMEOUT_MAX); longer only piles up orphans.
    Key("net.ipv4.tcp_fin_timeout", 1, bounds=(1, 120), unit=" s"),
)}

# The seed's appendix, "Linux sysctl vars of interest", in its order.
INTEREST = (
    "fs.file-max", "fs.pipe-max-size", "fs.file-nr",
    "net.core.somaxconn", "net.core.netdev_max_backlog", "net.ipv4.tcp_max_syn_backlog",
    "net.ipv4.tcp_max_orphans", "net.ipv4.ip_local_port_range", "net.core.optmem_max",
    "net.ipv4.tcp_mem", "net.core.rmem_default", "net.core.rmem_max", "net.ipv4.tcp_rmem",
    "net.core.wmem_default", "net.core.wmem_max", "net.ipv4.tcp_wmem",
    "net.ipv4.tcp_congestion_control", "net.ipv4.tcp_fastopen", "net.ipv4.tcp_low_latency",
    "net.ipv4.tcp_window_scaling",
)

WORD = re.compile(r"[a-z][a-z0-9_]{0,31}")
NUMBER = re.compile(r"[0-9]{1,19}")


def normalize(value: str) -> str:
    """A value as compared: the kernel's tabs and runs of blanks become one space."""
    return " ".join(value.split())


def parse_value(key: Key, text: str, source: str) -> str:
    """Check ``text`` against the key's shape; return it normalized."""
    words = text.split()
    if key.numbers is None:
        if len(words) != 1 or not WORD.fullmatch(words[0]):
            raise BenchError(f"{source}: {key.name} takes one word like `cubic`, got {text!r}; fix the line")
        return words[0]
    if len(words) != key.numbers or not all(NUMBER.fullmatch(w) and int(w) < 2**63 for w in words):
        shape = "a number" if key.numbers == 1 else f"{key.numbers} numbers"
        raise BenchError(f"{source}: {key.name} takes {shape}, got {text!r}; fix the line")
    numbers = [int(w) for w in words]
    if key.only == WIDEN and numbers[0] > numbers[1]:
        raise BenchError(f"{source}: {key.name} is a range, low then high, got {text!r}; swap the numbers")
    return " ".join(str(n) for n in numbers)


def check_bounds(key: Key, value: str, source: str) -> None:
    """A profile's value within the key's allowed range or under its ceiling, and none of its unsafe
    values (a live value or snapshot need not be)."""
    numbers = [int(w) for w in value.split()] if key.numbers else []
    for unsafe, why in key.unsafe:
        if numbers == [unsafe]:
            raise BenchError(f"{source}: {key.name} = {value} is refused: {why}")
    if key.ceiling and any(n > most for n, most in zip(numbers, key.ceiling.most)):
        raise BenchError(f"{source}: {key.name} = {value} is above its ceiling "
                         f"{' '.join(map(str, key.ceiling.most))} ({key.ceiling.why}); lower it")
    if key.bounds is None:
        return
    low, high = key.bounds
    if not all(low <= n <= high for n in numbers):
        raise BenchError(f"{source}: {key.name} = {value} is outside {low}-{high}{key.unit}; pick a value in it")
    if key.only == WIDEN and numbers[0] >= numbers[1]:
        raise BenchError(f"{source}: {key.name} = {value} is no range: the low port must be below the high one")


def memory_ceiling(key: Key, memory_kb: int, page_size: int) -> int | None:
    """The most each number of ``key`` may be on a host with this much RAM; None: RAM does not bound it."""
    ceiling = key.ceiling
    if ceiling is None or ceiling.ram is None:
        return None
    unit = page_size if ceiling.unit == "page" else ceiling.unit
    return int(memory_kb * 1024 * ceiling.ram) // unit


def lowers(key: Key, current: str, wanted: str) -> bool:
    """Whether ``wanted`` would take a raise-only (or widen-only) key below ``current``."""
    return _moves(key, current, wanted, against=True)


def raises(key: Key, current: str, wanted: str) -> bool:
    """Whether ``wanted`` moves a raise-only (or widen-only) key the allowed way anywhere."""
    return _moves(key, current, wanted, against=False)


def _moves(key: Key, current: str, wanted: str, against: bool) -> bool:
    if key.only is None:
        return False
    try:
        now = [int(w) for w in current.split()]
        new = [int(w) for w in wanted.split()]
    except ValueError:
        return False
    if len(now) != len(new):
        return False
    if against:
        now, new = new, now
    if key.only == WIDEN:
        return new[0] < now[0] or new[1] > now[1]
    return any(n > c for n, c in zip(new, now))
