"""inv bench: plan the matrix, run every cell against real servers, keep each record."""
from .loadgens import load_generator

__all__ = ["load_generator"]
