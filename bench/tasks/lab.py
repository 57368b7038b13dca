"""`inv lab.*`: a lab of network namespaces with real sshd on this machine."""
import os
import shlex
import shutil
import time
from pathlib import Path

from invoke import Exit, task

from bench import lab as namespace_lab
from bench.errors import BenchError
from bench.hosts import SUDO_PASSWORD_VARIABLE, LocalHost
from bench.setup import packages

from . import exits

ROOT_HELP = {"root": "folder for the lab's keys, sshd configs, logs and lab.json (default: lab.root)"}


def _root(c, root):
    return root or c.config.lab.root


@task(help={**ROOT_HELP, "names": "comma-separated lab host names (default: server,load); not with --load-hosts",
            "load-hosts": "how many load hosts beside the server, 1 to 32: load, or load1..loadN (default: 1)",
            "subnet": "an IPv4 /24 to use (default: a free 10.2xx.N.0/24)",
            "user": "also a non-root user on the lab hosts (a user of this machine, made when missing, with a random "
                    "password printed once) that logs in with the lab's key and uses sudo with its password; "
                    "`inv lab.down` removes what was made (default: root only)"})
@exits()
def up(c, root=None, names=None, load_hosts=None, subnet=None, user=None):
    """Start lab hosts: one network namespace with its own sshd each."""
    host_names = namespace_lab.host_names(names, load_hosts)
    if user:
        namespace_lab.check_user_name(user)
    install_packages(namespace_lab.missing_packages() + (["sudo"] if user and not shutil.which("sudo") else []))
    started = time.monotonic()
    lab = namespace_lab.up(_root(c, root), names=host_names, subnet=subnet)
    password = None
    if user:
        try:
            lab, password = namespace_lab.add_user(lab, user)
        except BaseException:
            namespace_lab.down(lab)
            raise
    print(f"up in {time.monotonic() - started:.3f} s")
    print("\n".join(namespace_lab.format_lab(lab)))
    if user:
        # Shown once, here: lab.json never holds it.
        secret = shlex.quote(password) if password else f"<{user}'s own password>"
        print(f"with, in the same shell (not saved anywhere):\n  export {SUDO_PASSWORD_VARIABLE}={secret}")


def install_packages(names: list[str], os_release: str = "/etc/os-release") -> None:
    """Install the lab's missing packages with apt, as `inv setup` installs its own."""
    if not names:
        return
    if os.geteuid() != 0:
        raise BenchError("the namespace lab needs root (ip netns, sshd); run it as root")
    try:
        debian = packages.is_debian_like(packages.parse_os_release(Path(os_release).read_text()))
    except OSError:
        debian = False
    if not debian:
        raise BenchError(f"the namespace lab needs {' '.join(names)} (Debian's names): install them with the "
                         f"system's package manager, then run again")
    packages.install(LocalHost(), names, log=print)
    still = namespace_lab.missing_packages()
    if still:
        raise BenchError(f"apt-get reported success but {' '.join(still)} is still missing")


@task(help=ROOT_HELP)
@exits()
def down(c, root=None):
    """Stop the lab's sshd and processes, delete its namespaces and bridge."""
    started = time.monotonic()
    lab = namespace_lab.down(_root(c, root))
    if lab is None:
        print(f"no lab in {_root(c, root)}")
    else:
        print(f"lab {lab.id} down in {time.monotonic() - started:.3f} s")


@task(help=ROOT_HELP)
@exits()
def status(c, root=None):
    """Show each lab host: namespace, sshd pid, and whether it accepts SSH (exit 1 if not)."""
    lab = namespace_lab.load(_root(c, root))
    if lab is None:
        print(f"no lab in {_root(c, root)}; start one with `inv lab.up`")
        return
    statuses = namespace_lab.status(lab)
    print("\n".join(namespace_lab.format_status(lab, statuses)))
    if not all(each.accepting for each in statuses):
        raise Exit(f"error: lab {lab.id} is broken; run `inv lab.down` then `inv lab.up`", code=1)
