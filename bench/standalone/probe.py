"""Fetch one URL and describe the answer: status, headers, body length and digest.

Standard library only: it is copied to a load host and run there as
``python3 probe.py URL``, which prints the description as one JSON object.
"""
import hashlib
import http.client
import json
import sys
from urllib.parse import urlsplit


def fetch(url, timeout=2.0):
    """GET ``url`` on a new connection; return a dict, or {"error": reason, "connected": bool}."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        connection.connect()
    except OSError as exc:
        connection.close()
        return {"error": str(exc) or type(exc).__name__, "connected": False}
    try:
        connection.request("GET", parts.path or "/")
        response = connection.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException) as exc:
        return {"error": str(exc) or type(exc).__name__, "connected": True}
    finally:
        connection.close()
    return {
        "status": response.status,
        "headers": {name.lower(): value for name, value in response.getheaders()},
        "length": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
    }


if __name__ == "__main__":
    print(json.dumps(fetch(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 2.0)))
