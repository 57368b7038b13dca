"""Thin Invoke tasks, one module per area: they resolve options and call bench/."""
from pathlib import Path


def run_folder(run: str, reports: str) -> Path:
    """A run folder given as a path, or by its name under the reports folder."""
    path = Path(run)
    return path if path.is_dir() or path.is_absolute() else Path(reports) / run
