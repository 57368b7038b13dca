"""inv bench: plan the matrix, run every cell against real servers, keep each record."""
from .servers import setup_steps

__all__ = ["setup_steps"]
