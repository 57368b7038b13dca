"""Where commands run: this machine (``LocalHost``) or a lab machine over SSH (``SSHHost``).

Both offer the same :class:`Host` surface; :func:`open_host` is how tasks reach one
and :func:`on_each` runs a step on several, host by host.
"""
from .base import Host
from .group import GroupResult, HostOutcome, on_each
from .local import LocalHost
from .spec import HostSpec
from .ssh import SUDO_PASSWORD_VARIABLE, SSHHost, connect, open_host

__all__ = ["GroupResult", "Host", "HostOutcome", "HostSpec", "LocalHost", "SSHHost", "SUDO_PASSWORD_VARIABLE",
           "connect", "on_each", "open_host"]
