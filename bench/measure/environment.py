"""What the measured machines were: captured once per run into ``env.json``."""
from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

from bench.hosts import Host
from bench.tune import INTEREST, normalize  # the seed's "Linux sysctl vars of interest"

from .servers import ServerKind

_FACTS = {
    "cpu_model": "sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1",
    "cpus": "nproc",
    "kernel": "uname -sr",
    "kernel_cmdline": "cat /proc/cmdline",
    "governor": "cat /sys/devices/system/cpu/cpu0/cpufreq/scaling_governor 2>/dev/null || echo none",
    "memory_kb": "sed -n 's/^MemTotal:[[:space:]]*\\([0-9]*\\).*/\\1/p' /proc/meminfo",
    "os": ". /etc/os-release 2>/dev/null && echo \"$PRETTY_NAME\"",
    "hostname": "hostname",
    "ulimit_n": "ulimit -n",
    "ulimit_hn": "ulimit -Hn",
}


def _script(commands: dict[str, str]) -> str:
    """One shell round trip for many facts: each prints ``@@key`` then its output."""
    return "; ".join(f"echo {shlex.quote('@@' + key)}; ({command}) 2>/dev/null" for key, command in commands.items())


def parse_facts(output: str) -> dict[str, str]:
    facts, key, lines = {}, None, []
    for line in output.splitlines():
        if line.startswith("@@"):
            if key is not None:
                facts[key] = "\n".join(lines).strip()
            key, lines = line[2:], []
        else:
            lines.append(line)
    if key is not None:
        facts[key] = "\n".join(lines).strip()
    return facts


# What says two hosts are one machine: one running kernel (boot id) has the same CPUs; the machine id
# (the OS install) speaks where the boot id is unreadable.
_IDENTITY = {"boot_id": "cat /proc/sys/kernel/random/boot_id", "machine_id": "cat /etc/machine-id"}


def machine_identity(host: Host) -> dict[str, str]:
    """The host's boot id and machine id ("" for one it cannot read), in one round trip."""
    facts = parse_facts(host.run(_script(_IDENTITY), warn=True).stdout)
    return {key: facts.get(key, "") for key in _IDENTITY}


def same_machine(one: dict, other: dict) -> bool | None:
    """Whether two hosts are one machine, by their identities; None when neither id is known on both."""
    for key in _IDENTITY:
        if one.get(key) and other.get(key):
            return one[key] == other[key]
    return None


def capture_host(host: Host, *, role: str, servers: list[tuple[ServerKind, object, list]], loadgen: dict | None,
                 nofile: int | None = None) -> dict:
    """Facts about one host: CPU, kernel, sysctls, limits, and the versions of its servers (each kind with
    what it found there and its variants) and of its load generator.

    ``loadgen`` is ``{"tool", "path", "version"}`` for the host that runs the load.
    """
    commands = dict(_FACTS)
    for key in INTEREST:
        commands[f"sysctl:{key}"] = f"sysctl -n {key}"
    wanted = {kind.name: kind.facts(found, variants) for kind, found, variants in servers}
    for name, facts in wanted.items():
        commands.update({f"server:{name}:{row}": fact.command for row, fact in facts.items()})
    facts = parse_facts(host.run(_script(commands), warn=True).stdout)
    return {
        "name": str(host),
        "role": role,
        "cpu_model": facts.get("cpu_model", ""),
        "cpus": int(facts.get("cpus") or 0),
        "kernel": facts.get("kernel", ""),
        "kernel_cmdline": facts.get("kernel_cmdline", ""),
        "governor": facts.get("governor", ""),
        "memory_kb": int(facts.get("memory_kb") or 0),
        "os": facts.get("os", ""),
        "hostname": facts.get("hostname", ""),
        "nofile": {"soft": nofile or facts.get("ulimit_n"), "hard": facts.get("ulimit_hn")},
        "sysctl": {key: normalize(facts.get(f"sysctl:{key}", "")) or None for key in INTEREST},
        "servers": {name: {row: fact.words(facts.get(f"server:{name}:{row}", "")) for row, fact in rows.items()}
                    for name, rows in wanted.items()},
        "loadgen": loadgen,
    }


def git_commit(repo: Path) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(repo), "describe", "--always", "--dirty"],
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None

