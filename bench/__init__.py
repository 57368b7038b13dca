"""A benchmark lab: Twisted Web against Nginx on a tuned multicore host."""

__version__ = "0.1.0"
