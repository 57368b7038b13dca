"""One ``inv tune`` at a time on a host: an flock on ``<root>/var/lib/twisted-lab/tune.lock``.

A lock must outlive the host command that takes it (apply and revert are many commands,
over SSH too), so the command that takes it leaves a small holder process on the host
with the locked file open. The holder ends when this run releases the lock, or when the
process this run's commands hang off dies (``inv`` itself here, the SSH session's sshd
over SSH): a killed run or a lost connection frees the lock within a second. A holder
that has nothing to watch gives up after :data:`LEASE` seconds.
"""
from __future__ import annotations

import shlex
from contextlib import contextmanager

from bench.errors import BenchError, HostLost
from bench.hosts import Host

from .state import STATE_DIR

LOCK = f"{STATE_DIR}/tune.lock"
LEASE = 900
BUSY, NOT_A_FILE = 75, 76

# $1 lock file, $2 the pid to watch. The holder keeps fd 9 (the locked file) open; its
# `sleep` does not, so killing the holder frees the lock at once. The `-ef` test catches a
# lock file removed (released) between our open and our flock.
_TAKE = r"""l=$1; a=$2
mkdir -p "${l%/*}" || exit 1
if [ -L "${l%/*}" ] || [ -L "$l" ] || { [ -e "$l" ] && [ ! -f "$l" ]; }; then exit 76; fi
command -v flock >/dev/null || { echo "flock not found: install util-linux" >&2; exit 1; }
exec 9>>"$l"
if ! flock -n 9 || ! [ "$l" -ef /dev/fd/9 ]; then cat "$l"; exit 75; fi
kill -0 "$a" 2>/dev/null || a=
setsid sh -c 'n=0; trap "" HUP
  while if [ -n "$1" ]; then kill -0 "$1"; else [ $n -lt "$2" ]; fi 2>/dev/null; do sleep 1 9>&-; n=$((n+1)); done' \
  holder "$a" "$3" </dev/null >/dev/null 2>&1 &
: >/dev/fd/9
echo $! >&9
echo $!
"""


def lock_path(root: str) -> str:
    return f"{root.rstrip('/')}/{LOCK}"


@contextmanager
def host_lock(host: Host, root: str):
    """Hold the tune lock of ``host`` (for files under ``root``) while the block runs.

    Raises :class:`BenchError` at once, changing nothing, when another run holds it.
    """
    path = lock_path(root)
    anchor = host.run("echo $PPID").stdout.strip()
    script = f"sh -c {shlex.quote(_TAKE)} take {shlex.quote(path)} {shlex.quote(anchor)} {LEASE}"
    taken = host.sudo(script, warn=True)
    if taken.exited == BUSY:
        holder = taken.stdout.strip() or "unknown"
        raise BenchError(f"{host.name}: another `inv tune` is applying or reverting here (holder pid {holder} has "
                         f"{path}); wait for it to end, then run again")
    if taken.exited == NOT_A_FILE:
        raise BenchError(f"{host.name}: {path} or its folder is a symlink or not a plain file; "
                         f"tune locks only a plain file under the root: move it away")
    if not taken.ok:
        lines = (taken.stderr or taken.stdout).strip().splitlines()
        raise BenchError(f"{host.name}: cannot take the tune lock {path}: {lines[-1] if lines else taken.exited}")
    holder = int(taken.stdout.split()[-1])
    try:
        yield path
    finally:
        _release(host, path, holder)


def _release(host: Host, path: str, holder: int) -> None:
    """Remove the file while it still names our holder, then end the holder: the lock is free.

    A host we lost cannot be told; its holder frees the lock by itself when the
    connection's sshd ends, so the error that lost it is the one to report.
    """
    quoted = shlex.quote(path)
    try:
        host.sudo(f'[ "$(cat {quoted} 2>/dev/null)" != {holder} ] || rm -f {quoted}; kill {holder} 2>/dev/null',
                  warn=True)
    except HostLost:
        pass
