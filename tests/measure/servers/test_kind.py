"""The server kinds' registry: a kind is found by its name in bench.servers; a new one is one module."""
import json
import socket
import sys
from dataclasses import replace

import pytest
import pyhttp_kind
from support import TINY, free_port, options

from bench.errors import BenchError
from bench.measure import servers
from bench.measure.campaign import run_campaign
from bench.records import Status, read_records


@pytest.fixture
def pyhttp(monkeypatch):
    """The test's kind, where the registry looks for a kind named pyhttp (bench/measure/servers/pyhttp.py)."""
    monkeypatch.setitem(sys.modules, "bench.measure.servers.pyhttp", pyhttp_kind)
    return pyhttp_kind.KIND


def test_each_kind_is_the_module_of_its_name():
    assert servers.available() == ["nginx", "twisted"]
    assert [kind.name for kind in servers.kinds(("twisted", "nginx", "twisted"))] == ["twisted", "nginx"]
    assert servers.setup_steps() == ("nginx", "pypy", "cpython")
    assert servers.setup_steps(("twisted",)) == ("pypy", "cpython")


@pytest.mark.parametrize("name", ["apache", "core", "../nginx", "Nginx", ""])
def test_an_unknown_kind_is_one_line_naming_the_kinds_there_are(name):
    with pytest.raises(BenchError, match=r"^unknown server kind .*: choose from nginx, twisted"):
        servers.kind(name)


def test_the_options_refuse_an_unknown_kind_or_baseline():
    with pytest.raises(BenchError, match="unknown server kind 'apache'"):
        options(servers="nginx,apache")
    with pytest.raises(BenchError, match="unknown server kind 'lighttpd'"):
        options(baseline="lighttpd")


def test_a_new_kind_is_one_module_named_in_bench_servers(pyhttp, tmp_path):
    """Python's http.server beside Nginx, for real: planned from its variants, started, checked, loaded in the
    rounds, stopped by its pid, and compared with the baseline in the report."""
    chosen = replace(options(servers="nginx,pyhttp", payloads="40", keepalive=True, workers="1", loadgen="wrk",
                             port=free_port(), name="kinds"),
                     repeats=2, profile=TINY, reports=str(tmp_path),
                     statistics={"max_repeats": 2, "ci_target": 0.05, "max_seconds": 30, "cv_threshold": 0.05,
                                 "min_rounds": 6})
    run = run_campaign(chosen, say=lambda line: None)
    records = {record.cell.server: record for record in read_records(run / "results.jsonl")}
    mine = records["pyhttp"]
    assert mine.label == f"pyhttp/{pyhttp.variants(None, None)[0]['python']}"
    assert mine.status is Status.OK and len(mine.numbers) == 2, mine.reasons
    assert mine.verify == {"status": 200, "length": 40, "sha256": servers.digest(40)}
    assert mine.group == records["nginx"].group  # measured in the same case, round by round
    assert "serving" in (run / mine.server_log).read_text()
    with pytest.raises(ConnectionRefusedError):  # stopped: nothing listens on its port (the one after Nginx's)
        socket.create_connection(("127.0.0.1", chosen.port + 1), timeout=2).close()
    env = json.loads((run / "env.json").read_text())
    assert env["kinds"] == {"nginx": "Nginx", "pyhttp": "Python's http.server"}
    assert env["hosts"][0]["servers"]["pyhttp"]["Python's http.server"].startswith("Python 3.")
    report = (run / "report.md").read_text()
    assert report.startswith("# Python's http.server against Nginx — run kinds")
    section = report.split("## Python's http.server against Nginx\n", 1)[1].split("\n## ", 1)[0]
    (row,) = [line for line in section.splitlines() if line.startswith(f"| `{mine.label}`")]
    assert " n=2" in row
