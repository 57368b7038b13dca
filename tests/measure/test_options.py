"""A run's options: each flag, else invoke.yaml; validated before anything starts; read back on --resume."""
import json
import re
from dataclasses import replace

import pytest
from support import options, project_config

from bench.errors import BenchError
from bench.measure.options import Options, check_ports, resolve, resume_conflicts, stored


def test_defaults_come_from_invoke_yaml_alone():
    config = project_config()
    chosen = options()
    assert chosen.servers == tuple(config.bench.servers) and chosen.repeats == config.bench.repeats
    assert chosen.order == config.bench.order == "paired"
    assert chosen.statistics["ci_target"] == config.bench.statistics.ci_target
    assert chosen.server_cpus == chosen.load_cpus == ()


def test_a_flag_overrides_its_default():
    chosen = options(servers="nginx", payloads="40,4096", keepalive=True, order="sequential",
                     server_cpus="1", load_cpus="0", repeats="7")
    assert (chosen.servers, chosen.payloads, chosen.keepalive, chosen.order) == (("nginx",), (40, 4096), (True,), "sequential")
    assert (chosen.server_cpus, chosen.load_cpus, chosen.repeats) == ((1,), (0,), 7)


def test_twisted_versions_and_the_baseline_come_from_invoke_yaml_or_their_flags():
    config = project_config()
    chosen = options()
    assert chosen.baseline == config.bench.baseline == "nginx" and chosen.twisted == ()  # bench.twisted: null
    assert chosen.twisted_python == {str(pin["version"]): str(pin["python"]) for pin in config.setup.twisted}
    flagged = options(twisted="22.10.0, 26.4.0", baseline="twisted")
    assert (flagged.twisted, flagged.baseline) == (("22.10.0", "26.4.0"), "twisted")
    assert resume_conflicts(chosen, flagged) == ["baseline: nginx vs twisted", "twisted: [] vs ['22.10.0', '26.4.0']"]


@pytest.mark.parametrize("flags, message", [
    ({"twisted": "25.5.0"}, r"^Twisted 25.5.0 is not pinned in setup.twisted \(pinned: 26.10.0, 26.4.0, 24.3.0, "
                            r"22.10.0\): add its sdist's url, sha256 and oldest Python there$"),
    ({"baseline": "apache"}, r"^unknown server kind 'apache': choose from nginx, twisted"),
])
def test_a_twisted_version_not_pinned_or_an_unknown_baseline_is_one_line(flags, message):
    with pytest.raises(BenchError, match=message):
        options(**flags)


def test_a_profile_can_override_the_statistics():
    assert options(profile="tiny").statistics["max_seconds"] == 5


@pytest.mark.parametrize("flags, message", [
    ({"order": "random"}, "unknown order 'random'"),
    ({"keepalive": True, "close": True}, "pick one half"),
    ({"repeats": "0"}, "--repeats 0 is out of range: choose 1 to 100 rounds"),
    ({"repeats": "1000000000"}, "--repeats 1000000000 is out of range: choose 1 to 100 rounds"),
    ({"workers": "100000"}, "--workers 100000 is out of range: choose 1 to 1024 worker processes"),
    ({"port": "70000"}, "out of range"),
    ({"server_cpus": "one"}, "bad CPU list"),
    ({"profile": "huge"}, "unknown load profile"),
])
def test_bad_flags_are_one_line_errors(flags, message):
    with pytest.raises(BenchError, match=message):
        options(**flags)


def test_an_unknown_flag_is_refused():
    with pytest.raises(BenchError, match="unknown bench option"):
        resolve(project_config(), {"colour": "red"})


def test_options_round_trip_through_env_json_and_conflicts_are_named(tmp_path):
    chosen = options(name="x")
    (tmp_path / "env.json").write_text(json.dumps({"format": 2, "options": chosen.to_dict()}))
    back = stored(tmp_path)
    assert back == chosen
    assert resume_conflicts(back, replace(back, order="sequential")) == ["order: paired vs sequential"]


def test_stored_options_from_before_rounds_read_as_sequential(tmp_path):
    old = {k: v for k, v in options().to_dict().items() if k not in ("order", "server_cpus", "load_cpus")}
    assert Options.from_dict(old).order == "sequential"
    with pytest.raises(BenchError, match="lack repeats"):
        Options.from_dict({k: v for k, v in old.items() if k != "repeats"})


@pytest.mark.parametrize("env, message", [
    ("{not json", "env.json is not JSON"),
    ("[1, 2]", "env.json holds a JSON list, not an object"),
    ('{"run": "x"}', "env.json has no options"),
])
def test_a_broken_env_json_is_one_line_on_resume(tmp_path, env, message):
    (tmp_path / "env.json").write_text(env)
    with pytest.raises(BenchError, match=message):
        stored(tmp_path)


@pytest.mark.parametrize("change, message", [
    ({"workers": "12"}, "option workers is '12', which is not a list of int"),
    ({"repeats": 3.5}, "option repeats is 3.5, which is not int"),
    ({"keepalive": ["yes"]}, "option keepalive is .'yes',., which is not a list of bool"),
    ({"repeats": 10**9}, "out of range"),
])
def test_resume_checks_the_stored_options_again(tmp_path, change, message):
    (tmp_path / "env.json").write_text(json.dumps({"options": {**options().to_dict(), **change}}))
    with pytest.raises(BenchError, match=message):
        stored(tmp_path)


def test_load_flags_override_both_halves_of_the_profile():
    chosen = options(profile="tiny", concurrency="5", threads="2")
    for half in ("keepalive", "close"):
        assert chosen.profile[half] == {"duration": 1, "concurrency": 5, "threads": 2}
    assert chosen.profile["flags"] == {"concurrency": 5, "threads": 2}
    assert chosen.profile["warmup"] == options(profile="tiny").profile["warmup"]
    assert "flags" not in options(profile="tiny").profile  # no flag, the profile as written


def test_duration_replaces_requests_and_requests_replaces_duration():
    timed = options(profile="seed", duration="2.5")
    assert timed.profile["keepalive"] == {"concurrency": 4000, "threads": 4, "duration": 2.5}
    assert timed.profile["close"] == {"concurrency": 500, "threads": 4, "duration": 2.5}
    counted = options(profile="tiny", requests="1000")
    assert counted.profile["keepalive"] == {"concurrency": 10, "threads": 1, "requests": 1000}
    assert counted.profile["close"] == {"concurrency": 4, "threads": 1, "requests": 1000}


@pytest.mark.parametrize("flags, message", [
    ({"concurrency": "0"}, "--concurrency 0 is out of range: choose 1 to 65535 connections"),
    ({"concurrency": "70000"}, "--concurrency 70000 is out of range"),
    ({"concurrency": "many"}, "--concurrency must be a whole number, not 'many'"),
    ({"threads": "0"}, "--threads 0 is out of range: give at least 1 thread"),
    ({"profile": "tiny", "threads": "8"}, "8 threads for the close half's 4 connections: --threads must be at most --concurrency"),
    ({"concurrency": "5", "threads": "6"}, "--threads must be at most --concurrency"),
    ({"requests": "100"}, "100 requests for the keep-alive half's 200 connections: --requests must be at least --concurrency"),
    ({"requests": "0"}, "--requests 0 is out of range"),
    ({"duration": "0"}, "--duration 0 is out of range: choose more than 0 and at most 3600 seconds"),
    ({"duration": "-1"}, "--duration -1 is out of range"),
    ({"duration": "inf"}, "--duration inf is out of range"),
    ({"duration": "nan"}, "--duration nan is out of range"),
    ({"duration": "soon"}, "--duration must be a number of seconds, not 'soon'"),
    ({"duration": "1", "requests": "100"}, "--duration and --requests each say when a run ends"),
    ({"loadgen": "wrk", "requests": "1000"}, "give --duration SECONDS instead"),
])
def test_bad_load_flags_are_one_line_errors(flags, message):
    with pytest.raises(BenchError, match=None) as caught:
        options(**flags)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_load_hosts_repeat_and_default_to_this_machine():
    assert options().load_hosts == ()
    assert options(load_hosts=["root@a:22", "root@b:22"]).load_hosts == ("root@a:22", "root@b:22")


@pytest.mark.parametrize("flags, message", [
    ({"load_hosts": ["root@a:1", "root@a:1"]}, r"^--load-host root@a:1 is given twice: give each load host once$"),
    ({"server_host": "root@s:1", "load_hosts": ["root@s:1", "root@b:1"]},
     r"^root@s:1 is the server host and one of several load hosts: it can only be the one load host"),
    ({"load_hosts": ["local", "root@b:1"]}, r"^this machine cannot be one of several load hosts"),
])
def test_several_load_hosts_are_distinct_lab_hosts(flags, message):
    with pytest.raises(BenchError, match=message):
        options(**flags)


def test_a_run_stored_with_one_load_host_resumes_with_it_as_a_list():
    stored_options = options().to_dict()
    del stored_options["load_hosts"]
    stored_options["load_host"] = "root@a:22"
    assert Options.from_dict(stored_options).load_hosts == ("root@a:22",)
    stored_options["load_host"] = None
    assert Options.from_dict(stored_options).load_hosts == ()


def config_with(path: str, value):
    """The project's invoke.yaml with one value changed, e.g. ("bench.statistics.max_repeats", "x")."""
    config = project_config()
    *parents, key = path.split(".")
    target = config
    for parent in parents:
        target = target[parent]
    target[key] = value
    return config


@pytest.mark.parametrize("path, value, message", [
    ("bench.profiles.default.keepalive.concurrency", "lots", "bench.profiles.default['keepalive']['concurrency'] is "
                                                             "'lots', not a whole number from 1 to 65535"),
    ("bench.profiles.default.close.concurrency", 0, "['close']['concurrency'] is 0, not a whole number from 1"),
    ("bench.profiles.default.keepalive.threads", 10**9, "['keepalive']['threads'] is 1000000000, not a whole number"),
    ("bench.profiles.default.keepalive.duration", "two", "['keepalive']['duration'] is 'two', not a number from 0 "
                                                         "to 3600 or null"),
    ("bench.profiles.seed.close.requests", -1, "bench.profiles.seed['close']['requests'] is -1"),
    ("bench.profiles.default.warmup.tolerance", "3%", "['warmup']['tolerance'] is '3%', not a number from 0 to 1"),
    ("bench.profiles.default.warmup.max_rounds", 0.5, "['warmup']['max_rounds'] is 0.5, not a whole number from 1"),
    ("bench.statistics.max_repeats", "many", "bench.statistics['max_repeats'] is 'many', not a whole number from 1 "
                                            "to 1000"),
    ("bench.statistics.max_repeats", 10**9, "bench.statistics['max_repeats'] is 1000000000"),
    ("bench.statistics.max_seconds", "soon", "bench.statistics['max_seconds'] is 'soon', not a number from 0 to 86400"),
    ("bench.statistics.max_seconds", -5, "bench.statistics['max_seconds'] is -5"),
    ("bench.statistics.ci_target", 5, "bench.statistics['ci_target'] is 5, not a number from 0 to 1"),
    ("bench.statistics.cv_threshold", True, "bench.statistics['cv_threshold'] is True"),
])
def test_every_profile_and_statistics_value_is_typed_and_bounded(path, value, message):
    profile = path.split(".")[2] if path.startswith("bench.profiles") else "default"
    for flags in ({"profile": profile}, {"profile": profile, "threads": "1"}):  # also when flags override the load
        with pytest.raises(BenchError) as caught:
            resolve(config_with(path, value), flags)
        assert message in str(caught.value) and str(caught.value).endswith(": correct it in invoke.yaml")


@pytest.mark.parametrize("change, message", [
    ({"statistics": {"max_repeats": "x", "ci_target": 0.05, "max_seconds": 45, "cv_threshold": 0.05}},
     "env.json: bench.statistics['max_repeats'] is 'x'"),
    ({"profile": {"keepalive": {"concurrency": "lots", "duration": 1}}}, "['keepalive']['concurrency'] is 'lots'"),
    ({"profile": {"warmup": []}}, "['warmup'] is [], not an object or null"),
])
def test_resume_checks_the_stored_profile_and_statistics(tmp_path, change, message):
    (tmp_path / "env.json").write_text(json.dumps({"options": {**options().to_dict(), **change}}))
    with pytest.raises(BenchError, match=re.escape(message)):
        stored(tmp_path)


@pytest.mark.parametrize("first, servers, message", [
    (65535, 1, None),
    (65534, 2, None),
    (65535, 2, "--port 65535 leaves no room for the 2 servers of a case (ports 65535 to 65536): choose a port of at "
               "most 65534"),
    (65000, 600, "choose a port of at most 64936"),
])
def test_every_port_of_a_case_is_a_port(first, servers, message):
    if message is None:
        check_ports(first, servers)
    else:
        with pytest.raises(BenchError, match=re.escape(message)):
            check_ports(first, servers)
