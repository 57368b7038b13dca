"""What the harness reads of `inv setup`'s manifest: here, where the load generator came from (pure)."""
import pytest

from bench.manifest import describe_source, loadgen_provenance

W05 = {"kind": "tarball", "url": "https://github.com/lighttpd/weighttp/archive/refs/tags/weighttp-0.5.tar.gz",
       "sha256": "5900600cc108041d0e38abd02354d7d3b14649c827c4266c0d550b87904f1141", "file": "weighttp-0.5.tar.gz"}
WRK = {"kind": "distro", "package": "wrk", "version": "4.1.0-3+b2"}
FALLBACK = {"kind": "fallback", "reason": "cannot download …: refused", "instead": "wrk",
            "fetch": {"url": W05["url"], "into": "/c", "file": "weighttp-0.5.tar.gz"}}


def manifest(weighttp=None):
    tools = {"wrk": {"path": "/usr/bin/wrk", "source": WRK}}
    if weighttp:
        tools["weighttp"] = {"path": "/p/bin/weighttp" if weighttp is W05 else None, "source": weighttp}
    return {"tools": tools}


H2LOAD = {"kind": "distro", "package": "nghttp2-client", "version": "1.52.0-1+deb12u2"}


@pytest.mark.parametrize("program, binary, recorded, chosen, preferred, source, replaced", [
    ("weighttp", "/p/bin/weighttp", manifest(W05), None, "weighttp", W05, None),
    ("weighttp", "/p/bin//weighttp", manifest(W05), "weighttp", "weighttp", W05, None),
    ("weighttp", "/opt/weighttp", manifest(W05), None, "weighttp", {"kind": "unrecorded", "path": "/opt/weighttp"},
     None),
    ("wrk", "/usr/bin/wrk", manifest(W05), "wrk", "weighttp", WRK, "wrk was chosen (--loadgen wrk or bench.loadgen)"),
    ("wrk", "/usr/bin/wrk", manifest(FALLBACK), None, "weighttp", WRK,
     "weighttp could not be built by `inv setup` (cannot download …: refused)"),
    ("wrk", "/usr/bin/wrk", manifest(), None, "weighttp", WRK,
     "weighttp is not installed: run `inv setup --only weighttp`"),
    ("wrk", "/usr/bin/wrk", {}, None, "weighttp", {"kind": "unrecorded", "path": "/usr/bin/wrk"},
     "weighttp is not installed: run `inv setup --only weighttp`"),
    # whichever generator setup.loadgens puts first is the one another stands in for
    ("wrk", "/usr/bin/wrk", manifest(W05), None, "wrk", WRK, None),
    ("weighttp", "/p/bin/weighttp", manifest(W05), None, "h2load", W05,
     "h2load is not installed: run `inv setup --only h2load`"),
    ("h2load", "/usr/bin/h2load", {"tools": {"h2load": {"path": "/usr/bin/h2load", "source": H2LOAD}}}, "h2load",
     "weighttp", H2LOAD, "h2load was chosen (--loadgen h2load or bench.loadgen)"),
], ids=["weighttp-from-tarball", "path-normalised", "weighttp-not-from-setup", "wrk-chosen", "weighttp-fell-back",
        "weighttp-absent", "no-manifest", "wrk-preferred", "h2load-preferred-absent", "h2load-chosen"])
def test_loadgen_provenance(program, binary, recorded, chosen, preferred, source, replaced):
    assert loadgen_provenance(program, binary, recorded, chosen, preferred) == {
        "source": source, "preferred": preferred, "replaced": replaced}


@pytest.mark.parametrize("source, words", [
    (W05, "tarball weighttp-0.5.tar.gz (sha256 5900600cc108…)"),
    (WRK, "distro wrk 4.1.0-3+b2"),
    (FALLBACK, "FALLBACK to wrk (pinned weighttp-0.5.tar.gz unavailable)"),
    ({**FALLBACK, "instead": None}, "not installed (pinned weighttp-0.5.tar.gz unavailable)"),  # wrk2: nothing stands in
    ({"kind": "unrecorded", "path": "/opt/weighttp"}, "not from `inv setup` (/opt/weighttp)"),
])
def test_describe_source(source, words):
    assert describe_source(source) == words
