"""inv lab.*: lab hosts on this machine, network namespaces with their own sshd.

What other areas and the tasks may use: bring a lab up, load it, check it, connect to
its hosts and tear it down; its topology and the lines that show it.
"""
from .namespaces import (
    connect,
    down,
    load,
    missing_packages,
    missing_requirements,
    status,
    up,
)
from .topology import (
    LabHost,
    LabHostStatus,
    LabUser,
    NamespaceLab,
    check_user_name,
    format_lab,
    format_status,
    host_names,
    known_hosts_line,
    layout,
    load_hosts,
)
from .users import add_user, check_user

__all__ = ["LabHost", "LabHostStatus", "LabUser", "NamespaceLab", "add_user", "check_user", "check_user_name", "connect",
           "down",
           "format_lab", "format_status", "host_names", "known_hosts_line", "layout", "load", "load_hosts",
           "missing_packages", "missing_requirements", "status", "up"]
