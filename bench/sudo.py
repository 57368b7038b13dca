"""The lab user's sudo password: read from ``BENCH_SUDO_PASSWORD``, then kept out of every child process.

The harness alone holds it. The package takes it out of ``os.environ`` as it loads, so no child
(git, pip and the build code it runs, ``ip``, sshd, useradd, a load generator) can inherit it,
however that child is started.
"""
from __future__ import annotations

import os

SUDO_PASSWORD_VARIABLE = "BENCH_SUDO_PASSWORD"

_read: list[str] = []


def sudo_password() -> str | None:
    """The password given in the environment, or None; a password set there since the last call
    replaces the one held and leaves the environment too."""
    given = os.environ.pop(SUDO_PASSWORD_VARIABLE, None)
    if given is not None:
        _read[:] = [given]
    return _read[0] if _read else None
