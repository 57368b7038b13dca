"""`inv setup`: PyPy, Twisted and weighttp from pinned tarballs, plus Nginx, wrk and h2load."""
from __future__ import annotations

import functools

from invoke import Exit, task

from bench.config import plain
from bench.hosts import LocalHost, on_each, open_host
from bench.measure import setup_steps
from bench.measure.options import OPTIONS
from bench.setup.provision import setup_host
from bench.terminal import printable

from . import exits


@task(iterable=["host", "mirror"], auto_shortflags=False, help={
    "host": "a lab host as user@host[:port]; repeat for several (default: this machine)",
    "only": "comma-separated tools to set up: the steps of bench.servers' kinds "
            f"({','.join(setup_steps())}) or a load generator of setup.loadgens (default: all of them)",
    "twisted": "Twisted versions each interpreter gets an environment for, e.g. 22.10.0,26.4.0 (pinned in "
               "setup.twisted); default: bench.twisted, else the newest its Python supports",
    "force": "rebuild the tools named (all without --only) even when they are in place",
    "prefix": "tools folder on each host (default: setup.prefix, ~ is the host's home)",
    "cache": "tarball cache on this machine (default: setup.cache)",
    "mirror": "a folder on this machine holding pinned files, looked in by name before downloading; "
              "repeatable, added to setup.mirrors",
    "trust_new_host": "accept and record the key of a host not yet in known_hosts",
    "key": "SSH private key (default: lab.key, else the agent and ~/.ssh keys)",
    "known_hosts": "known_hosts file (default: lab.known_hosts, else ~/.ssh/known_hosts)",
})
@exits(interrupted="interrupted: what was complete is kept; run `inv setup` again to finish")
def setup(c, host=None, only=None, force=False, prefix=None, cache=None, mirror=None, trust_new_host=False,
          key=None, known_hosts=None, twisted=None):
    """Install PyPy, Twisted, weighttp (pinned tarballs), Nginx, wrk and h2load; write the manifest."""
    settings = dict(c.config.setup)
    settings.update({k: v for k, v in (("prefix", prefix), ("cache", cache)) if v})
    settings["mirrors"] = [*(settings.get("mirrors") or []), *(mirror or [])]
    chosen = dict(only=only, force=force, servers=_option("servers", None, c.config.bench.servers),
                  twisted=_option("twisted", twisted, c.config.bench.twisted) or ())
    if not host:
        setup_host(LocalHost(), settings, **chosen)
        return
    connect = functools.partial(open_host, lab=c.config.lab, key=key, known_hosts=known_hosts,
                                trust_new=trust_new_host)
    group = on_each(host, lambda remote: setup_host(remote, settings, **chosen),
                    connect=connect, after_each=_print_failure)
    if group.failed:
        failed = ", ".join(outcome.name for outcome in group.failed)
        raise Exit(f"error: setup failed on {failed} (see above); run again once fixed", code=1)


def _option(name: str, flag, configured):
    """A value of `inv bench`'s option ``name`` (the same kind, the same checks): ``flag``, else invoke.yaml's."""
    option = next(option for option in OPTIONS if option.name == name)
    where = f"--{name}" if flag else f"invoke.yaml's {option.config}"
    value = option.kind.parse(flag or plain(configured), where)
    option.kind.check(value, where)
    return value


def _print_failure(outcome):
    """A host's error as soon as it fails, right below that host's own output."""
    if not outcome.ok:
        print(printable(f"error: {outcome.error}"))
