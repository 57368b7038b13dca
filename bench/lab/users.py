"""The lab's non-root user: made (or found) on this machine, given the lab's key and password sudo; removed.

Network namespaces share this machine's users, so a user of the lab hosts is a user
here. Whatever lands in the user's home is written as that user (never by root
following links the user could plant); the sudoers rule is checked by visudo before
sudo can read it.
"""
from __future__ import annotations

import os
import pwd
import secrets
import subprocess
import tempfile
import time
from pathlib import Path

from bench.errors import BenchError

from .files import write_file
from .topology import (
    STATE,
    LabUser,
    NamespaceLab,
    check_user_name,
    sudoers_file,
    sudoers_rule,
)

# userdel's exit status when the user is already gone.
NO_SUCH_USER = 6


def add_user(lab: NamespaceLab, name: str) -> tuple[NamespaceLab, str | None]:
    """Give the lab a non-root user with password sudo (see :class:`LabUser`); return the lab
    and the user's new password (None for a user already on this machine, who keeps theirs).

    The user is recorded in lab.json before anything is made, so `down` undoes it even
    after a crash; the password is never recorded.
    """
    check_user_name(name)
    if lab.user is not None:
        raise BenchError(f"lab {lab.id} already has the user {lab.user.name}")
    key_line = Path(f"{lab.key}.pub").read_text().strip()
    lab = lab.with_user(LabUser(name=name, created=not exists(name), sudoers=sudoers_file(lab.id, name),
                                key_line=key_line))
    write_file(lab.root / STATE, lab.to_json())
    return lab, create(lab.user, lab.id)


def exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def create(user: LabUser, lab_id: str) -> str | None:
    """Make ``user`` ready: created with a fresh random password when the lab makes it, the lab's
    key authorized, password sudo allowed. Returns the new password, or None for a user found here."""
    password = None
    if user.created:
        _run(["useradd", "--create-home", "--shell", "/bin/bash", "--comment", f"twisted-lab {lab_id}", user.name])
        password = secrets.token_urlsafe(18)
        _run(["chpasswd"], stdin=f"{user.name}:{password}\n")  # never on a command line
    elif pwd.getpwnam(user.name).pw_uid == 0:
        raise BenchError(f"user {user.name} has uid 0: the lab's user must not be root; pick another --user")
    _as_user(user.name, 'umask 077 && mkdir -p "$1/.ssh" && printf "%s\\n" "$2" >>"$1/.ssh/authorized_keys"',
             user.key_line)
    _write_sudoers(user.sudoers, sudoers_rule(lab_id, user.name))
    return password


def remove(user: LabUser, timeout: float = 5.0) -> None:
    """Undo :func:`create`: the sudoers rule, then the user with its home (made by the lab) or
    the key line (a user found here). Tolerates what is already gone."""
    user.sudoers.unlink(missing_ok=True)
    if not exists(user.name):
        return
    if user.created:
        _wait_for_no_processes(pwd.getpwnam(user.name).pw_uid, timeout)
        done = subprocess.run(["userdel", "--remove", user.name], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL)
        # userdel -r warns (exit 12) when the user had no mail spool; the user is gone all the same.
        if done.returncode not in (0, NO_SUCH_USER) and exists(user.name):
            raise BenchError(f"userdel {user.name} failed: {done.stderr.strip() or done.returncode}; "
                             f"stop its processes (`pkill -u {user.name}`), then run `inv lab.down` again")
        return
    _as_user(user.name, 'f="$1/.ssh/authorized_keys"; [ -f "$f" ] || exit 0; t="$f.twisted-lab"; '
                        'grep -vxF -- "$2" "$f" >"$t"; [ $? -le 1 ] && mv -f "$t" "$f"', user.key_line)


def _wait_for_no_processes(uid: int, timeout: float) -> None:
    """Let the user's last processes end (an SSH session's sshd lingers a moment after the client
    closes): userdel refuses a user who still runs something."""
    deadline = time.monotonic() + timeout
    while _processes_of(uid) and time.monotonic() < deadline:
        time.sleep(0.02)


def _processes_of(uid: int) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and proc.stat().st_uid == uid:
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def _as_user(name: str, script: str, line: str) -> None:
    """Run ``script`` as ``name`` with $1 its home and $2 ``line``."""
    home = pwd.getpwnam(name).pw_dir
    _run(["runuser", "-u", name, "--", "sh", "-c", script, "sh", home, line], cwd="/")


def _write_sudoers(path: Path, text: str) -> None:
    """Write a sudoers rule through a fresh hidden name (sudo skips names with a '.'), check it, rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".twisted-lab-")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.chmod(tmp, 0o440)
        _run(["visudo", "-c", "-q", "-f", tmp])
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _run(argv: list[str], stdin: str | None = None, cwd: str | None = None) -> None:
    try:
        done = subprocess.run(argv, input=stdin, capture_output=True, text=True, cwd=cwd,
                              stdin=None if stdin is not None else subprocess.DEVNULL)
    except FileNotFoundError:
        raise BenchError(f"{argv[0]} not found: the lab's user needs passwd, sudo and util-linux "
                         f"(apt-get install passwd sudo util-linux)") from None
    if done.returncode != 0:
        raise BenchError(f"`{argv[0]}` failed for the lab's user: {done.stderr.strip() or done.returncode}")
