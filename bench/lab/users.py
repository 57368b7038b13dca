"""The lab's non-root user: made on this machine (or an account here, named as such), given the lab's key
and password sudo; removed.

Network namespaces share this machine's users and sudo, so a user of the lab hosts is a user
here, and its sudo is root here. Whatever lands in the user's home is written as that user
(never by root following links the user could plant); the sudoers rule is checked by visudo
before sudo can read it.
"""
from __future__ import annotations

import datetime
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench.errors import BenchError

from . import topology
from .files import write_file
from .topology import STATE, LabUser, NamespaceLab, check_user_name, sudoers_file, sudoers_rule, user_expiry

# What making, authorizing and removing the lab's user runs (from sudo, passwd and util-linux).
TOOLS = ("sudo", "visudo", "useradd", "chpasswd", "userdel", "runuser")
# userdel's exit status when the user is already gone.
NO_SUCH_USER = 6


def missing_sudo() -> str | None:
    """Why this machine cannot give the lab a user with password sudo, or None when it can."""
    lacking = [tool for tool in TOOLS if shutil.which(tool) is None]
    lacking += [] if topology.SUDOERS_D.is_dir() else [str(topology.SUDOERS_D)]
    if lacking:
        return f"the lab's user needs {' '.join(lacking)}: apt-get install sudo passwd util-linux, or leave out --user"
    return None


def check_user(name: str, existing: bool = False, days: str | int = 3) -> None:
    """Refuse, in one line, ``name`` as the lab's user unless it is new here and made to expire in ``days``
    (or, ``existing``, an account already here that is not root's), on a machine with sudo. Makes nothing."""
    check_user_name(name)
    if not existing:
        user_expiry(datetime.date.today(), days)
    problem = missing_sudo()
    if problem:
        raise BenchError(problem)
    if existing and not exists(name):
        raise BenchError(f"no user {name} on this machine: --existing-user names an account already here; "
                         f"`--user {name}` makes a new one")
    if existing and pwd.getpwnam(name).pw_uid == 0:
        raise BenchError(f"user {name} has uid 0: the lab's user must not be root; pick another")
    if not existing and exists(name):
        raise BenchError(f"user {name} already exists on this machine, and the lab's user gets full root here "
                         f"through sudo: pick a new name, or pass `--existing-user {name}` (not --user) to give "
                         f"it to that account")


def add_user(lab: NamespaceLab, name: str, existing: bool = False,
             days: str | int = 3) -> tuple[NamespaceLab, str | None]:
    """Give the lab a non-root user with password sudo (see :class:`LabUser`): a new account, made to
    expire in ``days``, or with ``existing`` one already here. Return the lab and the new
    account's password (None for an existing one, which keeps its own).

    The user is recorded in lab.json before anything is made, so `down` undoes it even
    after a crash; the password is never recorded.
    """
    if lab.user is not None:
        raise BenchError(f"lab {lab.id} already has the user {lab.user.name}")
    check_user(name, existing, days)
    key_line = Path(f"{lab.key}.pub").read_text().strip()
    expires = None if existing else user_expiry(datetime.date.today(), days)
    lab = lab.with_user(LabUser(name=name, created=not existing, sudoers=sudoers_file(lab.id, name),
                                key_line=key_line, expires=expires))
    write_file(lab.root / STATE, lab.to_json())
    return lab, create(lab.user, lab.id)


def exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def create(user: LabUser, lab_id: str) -> str | None:
    """Make ``user`` ready: created with a fresh random password and an expiry date when the lab makes
    it, the lab's key authorized, password sudo allowed. Returns the new password, or None for a user
    already here."""
    password = None
    if user.created:
        _run(["useradd", "--create-home", "--shell", "/bin/bash", "--comment", f"twisted-lab {lab_id}",
              "--expiredate", user.expires, user.name])
        password = secrets.token_urlsafe(18)
        _run(["chpasswd"], stdin=f"{user.name}:{password}\n")  # never on a command line
    _as_user(user.name, 'umask 077 && mkdir -p "$1/.ssh" && printf "%s\\n" "$2" >>"$1/.ssh/authorized_keys"',
             user.key_line)
    _write_sudoers(user.sudoers, sudoers_rule(lab_id, user.name))
    return password


def revoke(user: LabUser) -> None:
    """Take the lab's sudoers rule away: root on this machine, it goes before anything that can fail."""
    user.sudoers.unlink(missing_ok=True)


def remove(user: LabUser, timeout: float = 5.0) -> None:
    """Undo :func:`create`: the sudoers rule, then the user with its home (made by the lab) or
    the key line (a user already here). Tolerates what is already gone."""
    revoke(user)
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
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".twisted-lab-")
    except OSError as exc:
        raise BenchError(f"cannot write the lab's sudoers rule in {path.parent}: {exc.strerror}; "
                         f"check that sudo is installed (apt-get install sudo)") from None
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
        said = " | ".join(done.stderr.strip().splitlines()) or f"exit {done.returncode}"
        raise BenchError(f"`{argv[0]}` failed for the lab's user: {said}")
