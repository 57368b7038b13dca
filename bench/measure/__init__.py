"""inv bench: plan the matrix, run every cell against real servers, keep each record."""
