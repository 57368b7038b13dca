"""The lab's own files: a folder that is root's alone, and files written without following planted links."""
from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path

from bench.errors import BenchError
from bench.hosts import LocalHost


def own_folder(path: Path) -> Path:
    """``path``, made private (0700) when missing, after :func:`check_folder`."""
    try:
        path.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        pass
    return check_folder(path)


def check_folder(path: Path) -> Path:
    """Refuse a folder that is a symlink, someone else's, or writable by others: root writes keys and
    configs there for an sshd with ``StrictModes no``, and reads lab.json from it."""
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise BenchError(f"lab folder {path} is not a plain folder (a symlink or a file): pick another --root (lab.root)")
    if info.st_uid != os.geteuid():
        raise BenchError(f"lab folder {path} belongs to {_user(info.st_uid)}, not you: "
                         f"pick another --root (lab.root), or remove it if it is stale")
    if info.st_mode & 0o022:
        raise BenchError(f"lab folder {path} is writable by others (mode {stat.S_IMODE(info.st_mode):o}): "
                         f"`chmod go-w {path}`, or pick another --root (lab.root)")
    return path


def write_file(path: Path, text: str, mode: int = 0o644) -> None:
    """Write ``path`` through a fresh temporary name beside it (never a link planted there), then rename."""
    LocalHost().write_text(str(path), text, mode)


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"
