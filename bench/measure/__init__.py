"""inv bench: plan the matrix, run every cell against real servers, keep each record."""
from .options import LABELS as SETTING_LABELS

__all__ = ["SETTING_LABELS"]
