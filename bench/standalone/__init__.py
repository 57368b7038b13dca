"""What is copied to a lab host and runs there alone: standard library and Twisted, Python 3.9.

Nothing in this folder imports the rest of ``bench``.
"""
from pathlib import Path

HERE = Path(__file__).resolve().parent
SERVER = HERE / "server.py"
PROBE = HERE / "probe.py"
# server.py imports these as plain modules from its own folder: copy them next to it.
SHIPPED = [HERE / "command_line.py", HERE / "events.py", HERE / "payload.py", HERE / "affinity.py"]
