"""The bytes every server serves, and the Twisted resources that serve them.

Standard library and Twisted only: it ships to the lab host beside server.py.
"""
from __future__ import annotations

from twisted.web import resource, server, static

MAX_PAYLOAD = 64 * 1024 * 1024

_HEAD = b"<html>Hello, world!"
_TAIL = b"</html>\n"
_FILLER = b" Twisted Web and Nginx serve these same bytes."


def check_payload_size(size: int) -> None:
    """Raise ValueError, saying what to do, unless ``size`` is 1 byte .. 64 MiB."""
    if not 1 <= size <= MAX_PAYLOAD:
        raise ValueError(f"payload of {size} bytes is out of range: pick 1 to {MAX_PAYLOAD} bytes")


def payload_bytes(size: int) -> bytes:
    """The body every server serves: printable, deterministic, exactly ``size`` bytes.

    It reads ``<html>Hello, world! ...</html>`` like the seed's page, padded or cut
    to ``size``, and always ends with a newline.
    """
    check_payload_size(size)
    shortest = len(_HEAD) + len(_TAIL)
    if size < shortest:
        return (_HEAD + _FILLER)[: size - 1] + b"\n"
    padding = size - shortest
    filler = _FILLER * (padding // len(_FILLER) + 1)
    return _HEAD + filler[:padding] + _TAIL


class FixedPayload(resource.Resource):
    """Every request gets the same body; Twisted's default Content-Type is text/html."""

    isLeaf = True

    def __init__(self, body: bytes):
        resource.Resource.__init__(self)
        self.body = body

    def render_GET(self, request):
        return self.body


class CountingSite(server.Site):
    """A Site that counts the requests it answered, writing the access log only when asked."""

    def __init__(self, root, access_log: bool):
        server.Site.__init__(self, root)
        self.access_log = access_log
        self.requests = 0

    def log(self, request):
        self.requests += 1
        if self.access_log:
            server.Site.log(self, request)


def make_site(options) -> CountingSite:
    """The Site for ``--resource``: a fixed body, or the ``--file`` at any path."""
    if options.resource == "file":
        root = static.File(options.file)
        root.isLeaf = True  # "/" and every other path is the file itself
    else:
        root = FixedPayload(payload_bytes(options.payload))
    return CountingSite(root, access_log=options.log)
