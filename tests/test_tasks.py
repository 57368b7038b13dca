"""What the tasks share: how a run given on the command line becomes a run folder."""
from pathlib import Path

import pytest

from bench.errors import BenchError
from bench.tasks import run_folder


@pytest.mark.parametrize("run, folder", [
    ("20261126-093000", "reports/20261126-093000"),
    ("reports/20261126-093000", "reports/20261126-093000"),
    ("./x", "x"),
    ("/srv/runs/x", "/srv/runs/x"),
    ("..", ".."),
])
def test_a_name_is_under_reports_and_a_path_is_itself(run, folder):
    assert run_folder(run, "reports") == Path(folder)


def test_a_folder_of_the_same_name_here_does_not_turn_a_name_into_a_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "run-1").mkdir()
    assert run_folder("run-1", "reports") == Path("reports/run-1")


def test_a_name_that_is_no_run_name_is_refused():
    with pytest.raises(BenchError, match="bad run name"):
        run_folder("x;rm -rf ~", "reports")


def test_a_task_error_prints_control_characters_as_escapes():
    from invoke import Exit

    from bench.tasks import exits

    @exits()
    def failing(c):
        raise BenchError("lab: `true` exited 1: \x1b[2J\x1b]0;owned\x07")

    with pytest.raises(Exit) as caught:
        failing(None)
    assert caught.value.message == "error: lab: `true` exited 1: \\x1b[2J\\x1b]0;owned\\x07"
