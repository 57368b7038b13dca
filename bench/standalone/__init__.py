"""What is copied to a lab host and runs there alone: standard library and Twisted, Python 3.9.

Nothing in this folder imports the rest of ``bench``.
"""
from pathlib import Path

SERVER = Path(__file__).resolve().parent / "server.py"
PROBE = Path(__file__).resolve().parent / "probe.py"
