"""`inv lab.*`: a lab of network namespaces with real sshd on this machine."""
import os
import shlex
import shutil
import time

from invoke import Exit, task

from bench import lab as namespace_lab
from bench.errors import BenchError
from bench.hosts import SUDO_PASSWORD_VARIABLE
from bench.setup import packages

from . import exits

ROOT_HELP = {"root": "folder for the lab's keys, sshd configs, logs and lab.json (default: lab.root)"}


def _root(c, root):
    return root or c.config.lab.root


@task(help={**ROOT_HELP, "names": "comma-separated lab host names (default: server,load); not with --load-hosts",
            "load-hosts": "how many load hosts beside the server, 1 to 32: load, or load1..loadN (default: 1)",
            "subnet": "an IPv4 /24 to use (default: a free 10.2xx.N.0/24)",
            "user": "also a new non-root user on the lab hosts: an account of this machine, made with a random "
                    "password printed once and an expiry date, that logs in with the lab's key and has full sudo "
                    "on this machine with that password; `inv lab.down` removes it (default: root only)",
            "existing-user": "as --user, but give the lab's key and full sudo to an account already on this machine; "
                             "`inv lab.down` takes them away and leaves the account",
            "user-days": "days until the account --user makes expires, 1 to 365 (default: lab.user_days)"})
@exits()
def up(c, root=None, names=None, load_hosts=None, subnet=None, user=None, existing_user=None, user_days=None):
    """Start lab hosts: one network namespace with its own sshd each."""
    host_names = namespace_lab.host_names(names, load_hosts)
    if user and existing_user:
        raise BenchError("give --user (a new account) or --existing-user (one already here), not both")
    name = user or existing_user
    install_packages(namespace_lab.missing_packages() + (["sudo"] if name and not shutil.which("sudo") else []))
    if name:
        days = c.config.lab.user_days if user_days is None else user_days
        namespace_lab.check_user(name, existing=bool(existing_user), days=days)
    started = time.monotonic()
    lab = namespace_lab.up(_root(c, root), names=host_names, subnet=subnet)
    password = None
    if name:
        try:
            lab, password = namespace_lab.add_user(lab, name, existing=bool(existing_user), days=days)
        except BaseException:
            namespace_lab.down(lab.root)  # from lab.json, which names the user before it is made
            raise
    print(f"up in {time.monotonic() - started:.3f} s")
    print("\n".join(namespace_lab.format_lab(lab)))
    if name:
        # Shown once, here: lab.json never holds it.
        secret = shlex.quote(password) if password else f"<{name}'s own password>"
        print(f"with, in the same shell (not saved anywhere):\n  export {SUDO_PASSWORD_VARIABLE}={secret}")


def install_packages(names: list[str], os_release: str = "/etc/os-release") -> None:
    """Install the lab's missing packages with apt, as `inv setup` installs its own."""
    if not names:
        return
    if os.geteuid() != 0:
        raise BenchError("the namespace lab needs root (ip netns, sshd); run it as root")
    packages.install_here(names, "the namespace lab", log=print, os_release=os_release)
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
