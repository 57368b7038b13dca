"""`inv tune`: the seed's kernel and limit tuning, as a profile under sysconf/."""
from __future__ import annotations

from invoke import Exit, task

from bench import tune as tuning
from bench.errors import BenchError
from bench.hosts import open_host
from bench.tune import SYSCONF, load_profile


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
})
def tune(c, check=False, dry_run=False, revert=False, profile=None, root=None, host=None, key=None,
         known_hosts=None, trust_new_host=False):
    """Apply, check, plan or revert the kernel and open-file tuning, here or on lab hosts.

    Exit codes: 0 tuned (or reverted), 1 error (invalid profile, a value that did not
    verify, an unreachable host; nothing is changed on a host whose profile is invalid),
    2 not tuned (--check) or applied only in part (keys read-only, absent, or global
    inside a network namespace). Several hosts: 1 if any host failed, else 2 if any
    was partial. Sudo is used when the user is not root; its password comes from the
    BENCH_SUDO_PASSWORD environment variable.
    """
    cfg = c.config.tune
    if sum((check, dry_run, revert)) > 1:
        raise Exit("error: --check, --dry-run and --revert each pick one action: pass one, or none to apply", code=1)
    try:
        chosen = None if revert else load_profile(profile or cfg.profile, cfg.sysconf or SYSCONF)
    except BenchError as exc:
        raise Exit(f"error: {exc}", code=1)
    root = root or cfg.root
    codes, summaries = [], []
    for target in host or [None]:
        try:
            machine = open_host(target, c.config.lab, key=key, known_hosts=known_hosts, trust_new=trust_new_host)
            try:
                if check:
                    outcome = tuning.check(machine, chosen, root)
                elif dry_run:
                    outcome = tuning.preview(machine, chosen, root)
                elif revert:
                    outcome = tuning.revert(machine, root)
                else:
                    outcome = tuning.apply(machine, chosen, root)
            finally:
                machine.close()
        except BenchError as exc:
            name = target or "local"
            print(f"{name}: error: {exc}")
            codes.append(tuning.EXIT_ERROR)
            summaries.append(f"{name}: error (exit 1)")
            continue
        except KeyboardInterrupt:
            raise Exit("interrupted: run `inv tune --revert` to undo a partial apply", code=130)
        print("\n".join(tuning.format_outcome(outcome)))
        codes.append(outcome.code)
        summaries.append(f"{outcome.host}: {outcome.summary} (exit {outcome.code})")
    if len(summaries) > 1:
        print("== summary\n" + "\n".join(summaries))
    code = tuning.exit_code(codes)
    if code:
        raise Exit(code=code)
