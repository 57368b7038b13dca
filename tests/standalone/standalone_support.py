"""The flags the harness always gives server.py, for tests that parse or start it."""
from __future__ import annotations


def harness_flags(**given) -> list[str]:
    """Every required flag, as bench/measure/runner.py passes them; ``given`` replaces some.

    The fixed resource ignores ``--file``, so its default need not exist.
    """
    values = {"port": 0, "interface": "127.0.0.1", "backlog": 8192, "mode": "shared", "workers": 1,
              "resource": "fixed", "payload": 40, "file": "payload.html", **given}
    return [item for name, value in values.items() for item in (f"--{name}", str(value))]
