"""The servers under test: one module per kind (``nginx``, ``twisted``), and the machinery that runs any of them.

``kind`` says what a kind is and finds one by name; ``core`` starts a cell's server on the
server host as its kind's launch plan says, checks its bytes and stops it by pid.
"""
from .core import CellFailed, Rig, Running, Servers, digest, payload_name
from .kind import Fact, Launch, Place, ServerKind, available, kind, kinds, setup_steps

__all__ = ["CellFailed", "Fact", "Launch", "Place", "Rig", "Running", "ServerKind", "Servers", "available", "digest",
           "kind", "kinds", "payload_name", "setup_steps"]
