"""What a run name and an address may be: checked before either reaches a path, a shell or nginx.conf."""
from __future__ import annotations

import ipaddress
import re

from bench.errors import BenchError

RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
HOSTNAME_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def check_run_name(name: str) -> str:
    """A run's folder name under reports/: letters, digits, ``.``, ``_``, ``-``; a letter or digit first; 64 at most."""
    if not isinstance(name, str) or not RUN_NAME.fullmatch(name):
        raise BenchError(f"bad run name {name!r}: use letters, digits, '.', '_' and '-', starting with a letter "
                         f"or digit, at most 64 characters")
    return name


def is_address(value: str) -> bool:
    """An IPv4 or IPv6 address, or a hostname (RFC 1123)."""
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        pass
    labels = value[:-1].split(".") if value.endswith(".") else value.split(".")
    return 0 < len(value) <= 253 and all(HOSTNAME_LABEL.fullmatch(label) for label in labels)


def check_address(value: str, flag: str) -> str:
    if not isinstance(value, str) or not is_address(value):
        raise BenchError(f"{flag} {value!r} is not an IP address or a hostname")
    return value
