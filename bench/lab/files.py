"""The lab's own files: a folder that is root's alone, and files written without following planted links."""
from __future__ import annotations

from pathlib import Path

from bench.folders import check_private
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
    return check_private(path, "lab folder", "pick another --root (lab.root)")


def write_file(path: Path, text: str, mode: int = 0o644) -> None:
    """Write ``path`` through a fresh temporary name beside it (never a link planted there), then rename."""
    LocalHost().write_text(str(path), text, mode)
