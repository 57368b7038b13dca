"""A third server kind, made for the tests: Python's http.server serving the payload, in one module.

It is what a new kind takes: this module (in bench/measure/servers/pyhttp.py it would need nothing
else) and its name in bench.servers. The tests put it where the registry looks for it by name.
"""
from __future__ import annotations

import platform
import shlex
import sys
from pathlib import Path

from bench.measure.servers import Fact, Launch, Place, payload_name
from bench.records import Cell, CellRecord, Variant

SERVE = """\
import sys, http.server
body = open(sys.argv[1], "rb").read()
class Payload(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
class Server(http.server.ThreadingHTTPServer):
    request_queue_size = int(sys.argv[4])
server = Server((sys.argv[2], int(sys.argv[3])), Payload)
print("serving", flush=True)
server.serve_forever()
"""


class PyHttp:
    name, display, setup = "pyhttp", "Python's http.server", ()

    def find(self, host, options, say) -> str:
        return sys.executable

    def variants(self, options, found) -> list[Variant]:
        return [Variant(python=platform.python_version())]

    def workers(self, variant: Variant, workers: int) -> int:
        return workers  # one process whatever the case's workers: its threads serve

    def launch(self, cell: Cell, place: Place, found: str) -> Launch:
        argv = [found, "-c", SERVE, f"{place.www}/{payload_name(cell.payload)}", place.interface, str(place.port),
                str(place.backlog)]
        return Launch(argv=argv, ready=f"grep -q serving {shlex.quote(place.log)}", waiting_for="no 'serving'",
                      command=f"{found} -c SERVE {place.interface} {place.port}", log=place.log)

    def collected(self, cell: Cell, log: Path | None, record: CellRecord) -> None:
        pass

    def facts(self, found: str, variants: list[Variant]) -> dict[str, Fact]:
        return {"Python's http.server": Fact(f"{shlex.quote(found)} --version", lambda said: said or None)}


KIND = PyHttp()
