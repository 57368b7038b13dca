"""Fetch one URL and describe the answer: status, headers, body length and digest; or check pipelining.

Standard library only: it is copied to a load host and run there as ``python3 probe.py URL``,
which prints the description as one JSON object; ``python3 probe.py URL TIMEOUT DEPTH`` sends
DEPTH requests on one connection without waiting and describes every answer (:func:`pipelined`).
"""
import hashlib
import http.client
import json
import socket
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


def pipelined(url, depth, timeout=2.0):
    """Send ``depth`` requests on one connection at once, GET and HEAD in turn (the last one asks the server
    to close), then read the answers in order. A HEAD's answer has headers and no body, a GET's the body, so
    an answer out of order, missing or doubled cannot be read as the answer to its request. Returns
    {"depth", "answers": [{"method", "status", "content_length", "length", "sha256"} or {"method", "error"}],
    "extra": bytes after the last answer, "closed": whether the server closed then}, or {"error", "connected"}
    when no connection was made."""
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or 80
    methods = ["GET" if index % 2 == 0 else "HEAD" for index in range(depth)]
    requests = "".join(f"{method} {parts.path or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                       + ("Connection: close\r\n" if index == depth - 1 else "") + "\r\n"
                       for index, method in enumerate(methods))
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        return {"error": str(exc) or type(exc).__name__, "connected": False}
    answers, extra, closed = [], b"", True
    with sock, sock.makefile("rb") as stream:
        try:
            sock.sendall(requests.encode("ascii"))
            for method in methods:
                answers.append(dict(_answer(stream, method), method=method))
        except (OSError, ValueError) as exc:
            answers.append({"method": methods[len(answers)], "error": str(exc) or type(exc).__name__})
        try:
            extra = stream.read()
        except OSError:  # still open after the timeout, though asked to close
            closed = False
    return {"depth": depth, "answers": answers, "extra": len(extra), "closed": closed}


def _answer(stream, method):
    """One answer read off ``stream``: its status, Content-Length and (for a GET) the body it announced."""
    status_line = stream.readline(65537)
    words = status_line.split(None, 2)
    if len(words) < 2 or not words[0].startswith(b"HTTP/1.") or not words[1].isdigit():
        raise ValueError(f"not an HTTP answer: {status_line[:60]!r}")
    headers = {}
    while True:
        line = stream.readline(65537)
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    announced = headers.get("content-length")
    if announced is None or not announced.isdigit():
        raise ValueError(f"an answer to {method} without a Content-Length: {sorted(headers)}")
    body = stream.read(int(announced)) if method == "GET" else b""
    return {"status": int(words[1]), "content_length": int(announced), "length": len(body),
            "sha256": hashlib.sha256(body).hexdigest()}


def pipelining_problems(found, length, sha256):
    """What is wrong with :func:`pipelined`'s answers for a payload of ``length`` bytes and ``sha256``: none when
    every request got its own answer, in order, 200 with the right Content-Length and (GET) body."""
    if "answers" not in found:
        return [found.get("error", "no answer")]
    problems = []
    for index, answer in enumerate(found["answers"]):
        where = f"answer {index + 1} of {found['depth']} ({answer['method']})"
        if "error" in answer:
            problems.append(f"{where}: {answer['error']}")
            continue
        if answer["status"] != 200:
            problems.append(f"{where}: status {answer['status']}")
        if answer["content_length"] != length:
            problems.append(f"{where}: Content-Length {answer['content_length']}, expected {length}")
        if answer["method"] == "GET" and answer["sha256"] != sha256:
            problems.append(f"{where}: a body of {answer['length']} bytes that is not the payload")
    answered = [answer for answer in found["answers"] if "error" not in answer]
    if len(answered) < found["depth"]:
        problems.append(f"{len(answered)} answers to {found['depth']} requests")
    if found["extra"]:
        problems.append(f"{found['extra']} bytes after the last answer")
    if not found["closed"]:
        problems.append("the connection stayed open after the last request asked to close it")
    return problems


if __name__ == "__main__":
    TIMEOUT = float(sys.argv[2]) if len(sys.argv) > 2 else 2.0
    if len(sys.argv) > 3:
        print(json.dumps(pipelined(sys.argv[1], int(sys.argv[3]), TIMEOUT)))
    else:
        print(json.dumps(fetch(sys.argv[1], TIMEOUT)))
