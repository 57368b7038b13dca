"""inv bench: plan the matrix, run every cell against real servers, keep each record."""
from .loadgens import capabilities, load_generator
from .options import LABELS as SETTING_LABELS
from .servers import setup_steps

__all__ = ["SETTING_LABELS", "capabilities", "load_generator", "setup_steps"]
