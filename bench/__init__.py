"""A benchmark lab: Twisted Web against Nginx on a tuned multicore host."""
from .sudo import sudo_password

__version__ = "0.1.0"

sudo_password()  # out of the environment before any module of the package starts a child
