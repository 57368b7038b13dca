"""Thin Invoke tasks, one module per area: they resolve options and call bench/."""
