"""`inv tune`: the seed's kernel and limit tuning, as a profile under sysconf/."""
from __future__ import annotations

import functools

from invoke import Exit, task

from bench import tune as tuning
from bench.hosts import on_each, open_host
from bench.terminal import printable
from bench.tune import SYSCONF, load_profile

from . import exits


@task(iterable=["host"], auto_shortflags=False, help={
    "check": "show each variable of interest and the nofile limits, current next to profile; exit 0 only when tuned",
    "dry_run": "print the plan (a table for sysctls, a unified diff for files) and change nothing",
    "revert": "restore the snapshot taken before the first apply: live values and files; then remove it",
    "profile": "profile to use: a folder under sysconf/ (default: tune.profile, the seed's)",
    "root": "folder that stands for / for every file tune reads or writes (default: tune.root, /); live values stay real",
    "host": "user@host[:port] to tune over SSH; repeat for several (default: this machine)",
    "key": "SSH private key for --host (default: lab.key, else the agent and ~/.ssh keys)",
    "known_hosts": "known_hosts file to check --host keys against (default: lab.known_hosts, else ~/.ssh/known_hosts)",
    "trust_new_host": "accept and record an unknown SSH host key (a changed key is always refused)",
    "whole_machine": "the machine is yours: set its global keys (fs.*) also where only signs of a container "
                     "(/.dockerenv, a pid namespace of its own) say /proc/sys may be shared (tune.whole_machine)",
})
@exits(interrupted="interrupted: run `inv tune --revert` to undo a partial apply")
def tune(c, check=False, dry_run=False, revert=False, profile=None, root=None, host=None, key=None,
         known_hosts=None, trust_new_host=False, whole_machine=False):
    """Apply, check, plan or revert the kernel and open-file tuning, here or on lab hosts.

    A raise-only key the host already has more of is kept, not lowered ("already
    higher, kept"). Exit codes: 0 tuned (or reverted), 1 error (invalid profile, a
    value that did not verify, an unreachable host, another `inv tune` applying or
    reverting there; nothing is changed on a host whose profile is invalid), 2 not
    tuned (--check) or applied only in part (keys read-only, absent, or global inside a
    network namespace or container; --whole-machine when only signs say container). Several hosts: 1 if any host failed, else 2 if any
    was partial. Sudo is used when the user is not root; its password comes from the
    BENCH_SUDO_PASSWORD environment variable.
    """
    cfg = c.config.tune
    if sum((check, dry_run, revert)) > 1:
        raise Exit("error: --check, --dry-run and --revert each pick one action: pass one, or none to apply", code=1)
    chosen = None if revert else load_profile(profile or cfg.profile, cfg.sysconf or SYSCONF)
    root = root or cfg.root
    theirs = bool(whole_machine or cfg.whole_machine)

    def act(machine):
        if check:
            return tuning.check(machine, chosen, root, theirs)
        if dry_run:
            return tuning.preview(machine, chosen, root, theirs)
        if revert:
            return tuning.revert(machine, root, theirs)
        return tuning.apply(machine, chosen, root, theirs)

    connect = functools.partial(open_host, lab=c.config.lab, key=key, known_hosts=known_hosts,
                                trust_new=trust_new_host)
    group = on_each(host or [None], act, connect=connect, after_each=_print_outcome)
    codes = [outcome.value.code if outcome.ok else tuning.EXIT_ERROR for outcome in group.outcomes]
    if len(group.outcomes) > 1:
        print("== summary\n" + "\n".join(_summary(outcome) for outcome in group.outcomes))
    code = tuning.exit_code(codes)
    if code:
        raise Exit(code=code)


def _print_outcome(outcome):
    """A host's outcome as soon as it is known, right below that host's own output."""
    if outcome.ok:
        print(printable("\n".join(tuning.format_outcome(outcome.value))))
    else:
        print(printable(f"{outcome.name}: error: {outcome.error}"))


def _summary(outcome) -> str:
    if not outcome.ok:
        return f"{outcome.name}: error (exit 1)"
    done = outcome.value
    return f"{done.host}: {done.summary} (exit {done.code})"
