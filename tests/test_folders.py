"""A folder the harness writes into and trusts later is a plain folder, the user's own, writable by no one else."""
import os

import pytest

from bench.errors import BenchError
from bench.folders import check_private


def test_a_private_folder_passes(tmp_path):
    (tmp_path / "mine").mkdir(mode=0o755)
    assert check_private(tmp_path / "mine", "cache", "pick another") == tmp_path / "mine"


@pytest.mark.parametrize("kind, message", [
    ("file", r"^cache .*/x is not a plain folder \(a symlink or a file\): pick another$"),
    ("symlink", r"^cache .*/x is not a plain folder \(a symlink or a file\): pick another$"),
    ("world-writable", r"^cache .*/x is writable by others \(mode 777\): `chmod go-w .*/x`, or pick another$"),
    ("someone else's", r"^cache .*/x belongs to nobody, not you: pick another, or remove it if it is stale$"),
])
def test_a_folder_others_could_write_into_is_one_line(tmp_path, kind, message):
    folder = tmp_path / "x"
    if kind == "file":
        folder.write_text("")
    elif kind == "symlink":
        folder.symlink_to(tmp_path)
    else:
        folder.mkdir()
        if kind == "world-writable":
            folder.chmod(0o777)
        elif os.geteuid() != 0:
            pytest.skip("needs root to give the folder to another user")
        else:
            os.chown(folder, 65534, 65534)
    with pytest.raises(BenchError, match=message):
        check_private(folder, "cache", "pick another")
