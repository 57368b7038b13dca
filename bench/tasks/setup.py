"""`inv setup`: PyPy, Twisted and weighttp from pinned tarballs, plus Nginx and wrk."""
from __future__ import annotations

from invoke import Exit, task

from bench import hosts
from bench.errors import BenchError
from bench.hosts import LocalHost
from bench.setup import TOOLS, setup_host


@task(iterable=["host"], auto_shortflags=False, help={
    "host": "a lab host as user@host[:port]; repeat for several (default: this machine)",
    "only": f"comma-separated tools to set up: {','.join(TOOLS)} (default: all)",
    "force": "rebuild the tools named (all without --only) even when they are in place",
    "prefix": "tools folder on each host (default: setup.prefix, ~ is the host's home)",
    "cache": "tarball cache on this machine (default: setup.cache)",
    "trust_new_host": "accept and record the key of a host not yet in known_hosts",
    "key": "SSH private key (default: lab.key, else the agent and ~/.ssh keys)",
    "known_hosts": "known_hosts file (default: lab.known_hosts, else ~/.ssh/known_hosts)",
})
def setup(c, host=None, only=None, force=False, prefix=None, cache=None, trust_new_host=False,
          key=None, known_hosts=None):
    """Install PyPy, Twisted, weighttp (pinned tarballs), Nginx and wrk; write the manifest."""
    settings = dict(c.config.setup)
    settings.update({k: v for k, v in (("prefix", prefix), ("cache", cache)) if v})
    lab = c.config.lab
    failed = []
    try:
        if not host:
            setup_host(LocalHost(), settings, only=only, force=force)
            return
        for target in host:  # one after the other, so each host's output stays together
            try:
                remote = hosts.open_host(target, lab, key=key, known_hosts=known_hosts, trust_new=trust_new_host)
                try:
                    setup_host(remote, settings, only=only, force=force)
                finally:
                    remote.close()
            except BenchError as exc:
                print(f"error: {exc}")
                failed.append(target)
    except BenchError as exc:
        raise Exit(f"error: {exc}", code=1)
    except KeyboardInterrupt:
        raise Exit("interrupted: what was complete is kept; run `inv setup` again to finish", code=130)
    if failed:
        raise Exit(f"error: setup failed on {', '.join(failed)} (see above); run again once fixed", code=1)
