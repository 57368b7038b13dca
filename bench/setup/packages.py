"""Distribution packages: which are missing, and installing them with apt.

Only Debian and Ubuntu are handled (dpkg + apt); elsewhere the caller names what to
install. ``apt-get update`` runs only when apt cannot find a package, and installing
never starts a service: a policy-rc.d that says "no" is in place while apt runs.
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Callable

from bench.errors import BenchError
from bench.hosts import Host, LocalHost

POLICY = "/usr/sbin/policy-rc.d"
OURS = "# twisted-lab: no service starts while `inv setup` installs packages"
INSTALL = "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends"


def parse_os_release(text: str) -> dict[str, str]:
    """``/etc/os-release`` as a dict (quotes removed)."""
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip():
            fields[key.strip()] = value.strip().strip("\"'")
    return fields


def is_debian_like(os_release: dict[str, str]) -> bool:
    """Debian, Ubuntu and their derivatives (ID or ID_LIKE names one)."""
    names = {os_release.get("ID", "")} | set(os_release.get("ID_LIKE", "").split())
    return bool(names & {"debian", "ubuntu"})


def parse_status(output: str) -> dict[str, str]:
    """package -> version for the installed ones, from ``dpkg-query -W -f`` lines
    ``name<TAB>status<TAB>version``."""
    found = {}
    for line in output.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[1] == "installed":
            found[parts[0]] = parts[2]
    return found


def installed(host: Host, names: list[str]) -> dict[str, str]:
    """The installed versions of those of ``names`` that are installed."""
    if not names:
        return {}
    query = "dpkg-query -W -f='${Package}\\t${db:Status-Status}\\t${Version}\\n' "
    return parse_status(host.run(query + " ".join(map(shlex.quote, names)) + " 2>/dev/null", warn=True).stdout)


def missing(host: Host, names: list[str]) -> list[str]:
    present = installed(host, names)
    return [name for name in names if name not in present]


def needs_update(apt_output: str) -> bool:
    """apt failed because its package lists are absent or stale."""
    return bool(re.search(r"Unable to locate package|has no installation candidate|404\s+Not Found", apt_output))


def install(host: Host, names: list[str], log: Callable[[str], None]) -> None:
    """Install ``names`` with apt-get, without starting their services."""
    guard = f"{POLICY}.twisted-lab"
    created = host.sudo(
        f"if [ ! -e {POLICY} ]; then printf '#!/bin/sh\\n{OURS}\\nexit 101\\n' >{guard} && chmod 755 {guard}"
        f" && mv {guard} {POLICY} && echo created; elif grep -qF {shlex.quote(OURS)} {POLICY}; then echo created; fi"
    ).stdout.strip() == "created"
    try:
        command = f"{INSTALL} {' '.join(map(shlex.quote, names))}"
        log(f"apt-get install {' '.join(names)}")
        result = host.sudo(f"{command} 2>&1", warn=True)
        if not result.ok and needs_update(result.stdout):
            log("apt-get update (the package lists lack them)")
            host.sudo("DEBIAN_FRONTEND=noninteractive apt-get update -q 2>&1", warn=True)
            result = host.sudo(f"{command} 2>&1", warn=True)
        if not result.ok:
            tail = " | ".join(result.stdout.strip().splitlines()[-3:])
            raise BenchError(f"apt-get could not install {' '.join(names)} on {host}: {tail}")
    finally:
        if created:
            host.sudo(f"grep -qF {shlex.quote(OURS)} {POLICY} && rm -f {POLICY}", warn=True)


def install_here(names: list[str], needed_by: str, log: Callable[[str], None],
                 os_release: str = "/etc/os-release") -> None:
    """Install ``names`` on this machine with apt, as `inv setup` does (through sudo when not root);
    off Debian and Ubuntu, one line naming them and what needs them."""
    if not names:
        return
    try:
        debian = is_debian_like(parse_os_release(Path(os_release).read_text()))
    except OSError:
        debian = False
    if not debian:
        raise BenchError(f"{needed_by} needs {' '.join(names)} (Debian's names): install them with the "
                         f"system's package manager, then run again")
    install(LocalHost(), names, log)
