"""env.json read as the current format says it: the baseline, and each host's server facts by kind."""
import json
from pathlib import Path

import pytest

from bench.envfile import DEFAULT_BASELINE, python_words, read_env, roles
from bench.errors import BenchError
from bench.records import write_env

FORMAT3 = Path(__file__).parent / "report" / "fixtures" / "format3" / "env.json"


def test_a_format_3_env_names_its_servers_facts_by_kind_and_nginx_as_its_baseline():
    raw = json.loads(FORMAT3.read_text())
    env = read_env(FORMAT3)
    (host,) = env["hosts"]
    assert "nginx" not in host and "pythons" not in host
    assert host["servers"] == {
        "nginx": {"nginx": raw["hosts"][0]["nginx"]},
        "twisted": {"Twisted 26.10.0 on cpython": "Twisted 26.10.0 on CPython 3.11.7",
                    "Twisted 26.4.0 on pypy": "Twisted 26.4.0 on PyPy 7.3.11 (Python 3.9.16)"}}
    assert env["settings"]["baseline"] == DEFAULT_BASELINE == roles(env).baseline
    assert roles(env).shown == "Nginx" and roles({}).baseline == DEFAULT_BASELINE


def test_a_current_env_keeps_its_baseline_and_the_kinds_names(tmp_path):
    write_env(tmp_path / "env.json", {"kinds": {"twisted": "Twisted Web"}, "settings": {"baseline": "twisted"},
                                      "hosts": [{"role": "server", "name": "local",
                                                 "servers": {"twisted": {"Twisted 26.4.0 on pypy": "Twisted 26.4.0"}}}]})
    named = roles(read_env(tmp_path / "env.json"))
    assert (named.baseline, named.shown, named.display("pyhttp")) == ("twisted", "Twisted Web", "Pyhttp")


@pytest.mark.parametrize("host, message", [
    ({"servers": {"nginx": "1.22.1"}}, r"env\['hosts'\]\[0\]\['servers'\]\['nginx'\] is '1.22.1', not an object"),
    ({"servers": {"nginx": {"nginx": 1}}}, r"\['servers'\]\['nginx'\]\['nginx'\] is 1, not str or null"),
])
def test_server_facts_of_another_shape_are_one_line(tmp_path, host, message):
    write_env(tmp_path / "env.json", {"hosts": [{"role": "server", "name": "local", **host}]})
    with pytest.raises(BenchError, match=message):
        read_env(tmp_path / "env.json")


@pytest.mark.parametrize("python, words", [
    ({"implementation": "PyPy", "version": "3.9.16", "pypy": "7.3.11", "twisted": "26.4.0"},
     "Twisted 26.4.0 on PyPy 7.3.11 (Python 3.9.16)"),
    ({"implementation": "CPython", "version": "3.11.7", "pypy": None, "twisted": "22.10.0"},
     "Twisted 22.10.0 on CPython 3.11.7"),
    ({"error": "does not start or lacks Twisted"}, "does not start or lacks Twisted"),
])
def test_a_twisted_environment_in_words(python, words):
    assert python_words(python) == words
