"""A lab host as named on the command line: ``user@host[:port]``."""
from __future__ import annotations

from dataclasses import dataclass

from bench.errors import BenchError


@dataclass(frozen=True)
class HostSpec:
    """``user@host:port`` as given on the command line."""

    host: str
    user: str | None = None
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> "HostSpec":
        user, _, rest = text.rpartition("@")
        host, port = rest, None
        if rest.startswith("["):  # [v6addr]:port
            host, _, tail = rest[1:].partition("]")
            port = tail[1:] or None
        elif rest.count(":") == 1:
            host, port = rest.split(":")
        if not host:
            raise BenchError(f"bad host {text!r}: write it as user@host or user@host:port")
        try:
            number = int(port) if port else None
        except ValueError:
            number = 0
        if number is not None and not 0 < number < 65536:
            raise BenchError(f"bad port in {text!r}: write it as user@host:port, port 1-65535")
        return cls(host=host, user=user or None, port=number)

    def __str__(self) -> str:
        text = f"{self.user}@{self.host}" if self.user else self.host
        return f"{text}:{self.port}" if self.port else text
