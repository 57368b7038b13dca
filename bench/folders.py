"""Folders the harness writes into and later trusts: plain, the user's own, and writable by no one else."""
from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path

from bench.errors import BenchError


def check_private(path: Path, what: str, instead: str) -> Path:
    """Refuse a folder that is a symlink, someone else's, or writable by others: another user could
    plant or swap files in it. ``what`` names the folder, ``instead`` the way to pick another."""
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise BenchError(f"{what} {path} is not a plain folder (a symlink or a file): {instead}")
    if info.st_uid != os.geteuid():
        raise BenchError(f"{what} {path} belongs to {_user(info.st_uid)}, not you: {instead}, or remove it if it is stale")
    if info.st_mode & 0o022:
        raise BenchError(f"{what} {path} is writable by others (mode {stat.S_IMODE(info.st_mode):o}): "
                         f"`chmod go-w {path}`, or {instead}")
    return path


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"
