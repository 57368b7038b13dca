"""One step on several hosts, and each host's outcome, as Fabric's groups report them.

Hosts go one after the other so each one's output stays together; a host that fails
is that host's outcome, and the others go on.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

from bench.errors import BenchError

from .base import Host
from .ssh import open_host


@dataclass(frozen=True)
class HostOutcome:
    """What a step did on one host: its return value, or the error that stopped it."""

    name: str
    value: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class GroupResult:
    """Each host's outcome, in the order the hosts were given."""

    outcomes: tuple[HostOutcome, ...]

    @property
    def succeeded(self) -> tuple[HostOutcome, ...]:
        return tuple(outcome for outcome in self.outcomes if outcome.ok)

    @property
    def failed(self) -> tuple[HostOutcome, ...]:
        return tuple(outcome for outcome in self.outcomes if not outcome.ok)


def on_each(
    targets: Iterable[str | None],
    step: Callable[[Host], Any],
    *,
    connect: Callable[[str | None], Host] | None = None,
    after_each: Callable[[HostOutcome], None] | None = None,
) -> GroupResult:
    """Open each target (``user@host[:port]``, or None for this machine), run ``step`` on
    it, close it.

    ``connect`` opens a target (default: :func:`open_host` without ``lab:`` settings).
    A BenchError, in opening or in the step, becomes that host's failure; Ctrl-C stops
    them all. ``after_each`` sees each outcome as soon as it is known, so what it prints
    lands next to that host's own output.
    """
    connect = connect or (lambda target: open_host(target, {}))
    outcomes = []
    for target in targets:
        name = target or "local"
        try:
            host = connect(target)
            try:
                outcome = HostOutcome(name, value=step(host))
            finally:
                host.close()
        except BenchError as exc:
            outcome = HostOutcome(name, error=str(exc))
        outcomes.append(outcome)
        if after_each is not None:
            after_each(outcome)
    return GroupResult(tuple(outcomes))
