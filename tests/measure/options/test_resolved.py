"""A run's options: each flag, else invoke.yaml; validated before anything starts; read back on --resume."""
import json
import re
from dataclasses import replace

from pathlib import Path

import pytest
from support import options, project_config

from bench.config import plain
from bench.errors import BenchError
from bench.measure.options import (
    FIELDS,
    LABELS,
    OPTIONS,
    Option,
    Options,
    Shown,
    check_ports,
    resolve,
    resume_conflicts,
    run_flags,
    settings,
    signature,
    stored,
)
from bench.measure.options.values import Whole

FIXTURE_ENV = Path(__file__).resolve().parents[2] / "report" / "fixtures" / "report" / "env.json"


def test_defaults_come_from_invoke_yaml_alone():
    config = project_config()
    chosen = options()
    assert chosen.servers == tuple(config.bench.servers) and chosen.repeats == config.bench.repeats
    assert chosen.order == config.bench.order == "paired"
    assert chosen.statistics["ci_target"] == config.bench.statistics.ci_target
    assert chosen.server_cpus == chosen.load_cpus == ()


def test_the_twisted_versions_measured_are_those_setup_twisted_pins():
    config = project_config()
    assert options().twisted_python == {str(pin["version"]): str(pin["python"]) for pin in config.setup.twisted}
    assert options(twisted="22.10.0, 26.4.0").twisted == ("22.10.0", "26.4.0")
    with pytest.raises(BenchError, match=r"^Twisted 25.5.0 is not pinned in setup.twisted \(pinned: 26.10.0, 26.4.0, "
                                         r"24.3.0, 22.10.0\): add its sdist's url, sha256 and oldest Python there$"):
        options(twisted="25.5.0")


def test_a_flag_overrides_its_default():
    chosen = options(servers="nginx", payloads="40,4096", keepalive=True, order="sequential",
                     server_cpus="1", load_cpus="0", repeats="7")
    assert (chosen.servers, chosen.payloads, chosen.keepalive, chosen.order) == (("nginx",), (40, 4096), (True,), "sequential")
    assert (chosen.server_cpus, chosen.load_cpus, chosen.repeats) == ((1,), (0,), 7)


def test_a_profile_can_override_the_statistics():
    assert options(profile="tiny").statistics["max_seconds"] == 5


@pytest.mark.parametrize("flags, message", [
    ({"order": "random"}, "unknown order 'random'"),
    ({"keepalive": True, "close": True}, "--keepalive and --close both set keepalive: pass one of them"),
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
    ({"keepalive": ["yes"]}, r"option keepalive is \('yes',\), which is not a list of bool"),
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
    ({"loadgen": "wrk", "requests": "1000"}, "--requests with wrk: wrk runs for a duration, not a request count; "
                                             "give --duration SECONDS instead"),
])
def test_bad_load_flags_are_one_line_errors(flags, message):
    with pytest.raises(BenchError, match=None) as caught:
        options(**flags)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_load_hosts_repeat_and_default_to_this_machine():
    assert options().load_hosts == ()
    assert options(load_host=["root@a:22", "root@b:22"]).load_hosts == ("root@a:22", "root@b:22")


@pytest.mark.parametrize("flags, message", [
    ({"load_host": ["root@a:1", "root@a:1"]}, r"^--load-host root@a:1 is given twice: give each load host once$"),
    ({"server_host": "root@s:1", "load_host": ["root@s:1", "root@b:1"]},
     r"^root@s:1 is the server host and one of several load hosts: it can only be the one load host"),
    ({"load_host": ["local", "root@b:1"]}, r"^this machine cannot be one of several load hosts"),
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


def test_a_run_stored_before_setup_loadgens_resumes_with_the_order_it_had():
    stored_options = options().to_dict()
    assert stored_options["loadgens"] == ["weighttp", "wrk", "h2load", "wrk2"]
    del stored_options["loadgens"]
    assert Options.from_dict(stored_options).loadgens == ("weighttp", "wrk")


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
        assert str(caught.value).startswith("invoke.yaml's bench.") and message in str(caught.value)


@pytest.mark.parametrize("change, message", [
    ({"statistics": {"max_repeats": "x", "ci_target": 0.05, "max_seconds": 45, "cv_threshold": 0.05}},
     "env.json: option statistics['max_repeats'] is 'x'"),
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


# -- one rule each, checked once, in one place --------------------------------------------

def config_without(path: str):
    """The project's invoke.yaml without one key, e.g. "bench.load.threads"."""
    config = project_config()
    *parents, key = path.split(".")
    target = config
    for parent in parents:
        target = target[parent]
    target.pop(key)
    return config


def test_threads_above_concurrency_in_invoke_yaml_are_refused_not_clamped():
    with pytest.raises(BenchError) as caught:
        resolve(config_with("bench.profiles.tiny.close.threads", 8), {"profile": "tiny"})
    assert str(caught.value) == ("8 threads for the close half's 4 connections: threads must be at most concurrency "
                                 "in invoke.yaml's bench.profiles.tiny.close (or bench.load)")
    # Only the halves measured: the close half is not, with --keepalive.
    assert resolve(config_with("bench.profiles.tiny.close.threads", 8), {"profile": "tiny", "keepalive": True})


def test_requests_below_concurrency_in_invoke_yaml_are_refused():
    with pytest.raises(BenchError, match=re.escape(
            "100 requests for the close half's 500 connections: requests must be at least concurrency in "
            "invoke.yaml's bench.profiles.seed.close")):
        resolve(config_with("bench.profiles.seed.close.requests", 100), {"profile": "seed"})


def test_a_half_measured_without_requests_or_duration_is_refused_before_planning():
    config = project_config()
    config.bench.profiles["mine"] = {"keepalive": {"concurrency": 5, "threads": 1}, "close": {"duration": 1}}
    with pytest.raises(BenchError, match=re.escape("the keep-alive half has neither requests nor duration: set one in "
                                                   "invoke.yaml's bench.profiles.mine.keepalive")):
        resolve(config, {"profile": "mine"})
    assert resolve(config, {"profile": "mine", "close": True}).keepalive == (False,)


def test_what_a_profile_leaves_out_comes_from_bench_load_and_bench_warmup():
    config = project_config()
    config.bench.load = {"concurrency": 123, "threads": 3}
    config.bench.warmup = {"tolerance": 0.07, "max_rounds": 4, "max_seconds": 9}
    config.bench.profiles["mine"] = {"keepalive": {"duration": 1}, "close": {"duration": 1, "threads": 2},
                                     "warmup": {"duration": 1, "max_rounds": 2}}
    chosen = resolve(config, {"profile": "mine"})
    assert chosen.profile["keepalive"] == {"duration": 1, "concurrency": 123, "threads": 3}
    assert chosen.profile["close"] == {"duration": 1, "threads": 2, "concurrency": 123}
    assert chosen.profile["warmup"] == {"duration": 1, "max_rounds": 2, "tolerance": 0.07, "max_seconds": 9}
    config.bench.load = {"concurrency": 2, "threads": 3}  # the default threads above the default connections
    with pytest.raises(BenchError, match="3 threads for the keep-alive half's 2 connections"):
        resolve(config, {"profile": "mine"})


def test_the_built_in_profiles_are_as_written():
    """bench.load and bench.warmup fill in only what a profile leaves out: the project's profiles say it all."""
    config = project_config()
    for name in config.bench.profiles:
        written = {key: value for key, value in plain(config.bench.profiles[name]).items() if key != "statistics"}
        assert options(profile=name).profile == written


@pytest.mark.parametrize("key", sorted({option.config for option in OPTIONS if option.config and not option.task}))
def test_a_default_missing_from_invoke_yaml_is_one_line(key):
    with pytest.raises(BenchError) as caught:
        resolve(config_without(key), {})
    assert str(caught.value) == (f"invoke.yaml has no {key}: add it (the project's invoke.yaml has every key, "
                                 f"each with its default and what it is for)")


@pytest.mark.parametrize("path, message", [
    ("bench.load.threads", "invoke.yaml's bench.load has no 'threads'"),
    ("bench.load.concurrency", "invoke.yaml's bench.load has no 'concurrency'"),
    ("bench.warmup.tolerance", "invoke.yaml's bench.warmup has no 'tolerance'"),
    ("bench.warmup.max_rounds", "invoke.yaml's bench.warmup has no 'max_rounds'"),
    ("bench.warmup.max_seconds", "invoke.yaml's bench.warmup has no 'max_seconds'"),
    ("bench.statistics.min_rounds", "invoke.yaml's bench.statistics has no 'min_rounds'"),
])
def test_a_default_key_missing_inside_invoke_yaml_is_one_line(path, message):
    with pytest.raises(BenchError) as caught:
        resolve(config_without(path), {})
    assert str(caught.value) == message


@pytest.mark.parametrize("path, value, message", [
    ("bench.start_timeout", 0, "invoke.yaml's bench.start_timeout 0 is out of range: choose more than 0 and at most "
                               "600 seconds"),
    ("bench.load.threads", 0, "invoke.yaml's bench.load['threads'] is 0, not a whole number from 1 to 65535"),
    ("bench.warmup.tolerance", "3%", "invoke.yaml's bench.warmup['tolerance'] is '3%', not a number from 0 to 1"),
    ("bench.repeats", "x", "invoke.yaml's bench.repeats must be a whole number, not 'x'"),
    ("bench.port", 0, "invoke.yaml's bench.port 0 is out of range: choose 1 to 65535"),
    ("bench.backlog", -1, "invoke.yaml's bench.backlog -1 is out of range: choose 1 to 2147483647"),
    ("bench.servers", ["nginx", "apache"], "unknown server kind 'apache' (invoke.yaml's bench.servers): choose "
                                           "from nginx, twisted (a kind is a module of bench/measure/servers/)"),
    ("bench.keepalive", ["sometimes"], "invoke.yaml's bench.keepalive must be true or false, not 'sometimes'"),
    ("bench.twisted", ["24.x"], "invoke.yaml's bench.twisted names '24.x', which is not a Twisted version: give "
                                "versions like 24.3.0,26.4.0"),
    ("bench.baseline", "apache", "unknown server kind 'apache' (invoke.yaml's bench.baseline): choose from nginx, "
                                 "twisted (a kind is a module of bench/measure/servers/)"),
    ("bench.interface", "a b", "invoke.yaml's bench.interface 'a b' is not an IP address or a hostname"),
])
def test_a_wrong_default_in_invoke_yaml_is_one_line_naming_its_key(path, value, message):
    with pytest.raises(BenchError) as caught:
        resolve(config_with(path, value), {})
    assert str(caught.value) == message


@pytest.mark.parametrize("flags, message", [
    ({"servers": "nginx,apache"}, "unknown server kind 'apache' (--servers): choose from nginx, twisted"
                                  " (a kind is a module of bench/measure/servers/)"),
    ({"servers": ","}, "--servers is empty: give at least one"),
    ({"resources": "blob"}, "unknown resource 'blob' (--resources): choose from fixed, file"),
    ({"modes": "forked"}, "unknown mode 'forked' (--modes): choose from shared, reuseport, single"),
    ({"interpreters": "jython"}, "unknown interpreter 'jython' (--interpreters): choose from pypy, cpython"),
    ({"payloads": "0"}, "--payloads 0 is out of range: choose 1 to 67108864 bytes"),
    ({"payloads": "40,big"}, "--payloads must be a whole number, not 'big'"),
    ({"workers": "0"}, "--workers 0 is out of range: choose 1 to 1024 worker processes"),
    ({"loadgen": "ab"}, "unknown load generator 'ab' (--loadgen): choose from weighttp, wrk, h2load, wrk2"),
    ({"backlog": "0"}, "--backlog 0 is out of range: choose 1 to 2147483647"),
    ({"twisted": "24.3.0,latest"}, "--twisted names 'latest', which is not a Twisted version: give versions like "
                                   "24.3.0,26.4.0"),
    ({"baseline": "apache"}, "unknown server kind 'apache' (--baseline): choose from nginx, twisted"
                             " (a kind is a module of bench/measure/servers/)"),
    ({"interface": "a;b"}, "--interface 'a;b' is not an IP address or a hostname"),
])
def test_each_flag_is_checked_against_its_table_entry(flags, message):
    with pytest.raises(BenchError) as caught:
        options(**flags)
    assert str(caught.value) == message


def test_twisted_versions_and_the_baseline_are_options_that_a_resume_keeps():
    chosen = options(twisted="24.3.0,26.4.0", baseline="twisted")
    assert (chosen.twisted, chosen.baseline) == (("24.3.0", "26.4.0"), "twisted")
    assert options().twisted is None and options().baseline == project_config().bench.baseline
    assert resume_conflicts(options(), chosen) == ["twisted: None vs ['24.3.0', '26.4.0']",
                                                   "baseline: nginx vs twisted"]


# -- what env.json keeps, and --resume --------------------------------------------------

def test_env_json_settings_keep_their_keys():
    chosen = options(server_cpus="1", load_cpus="0")
    assert settings(chosen, loadgen="wrk") == {
        "profile": "default", "load": chosen.profile, "repeats": 3, "statistics": chosen.statistics,
        "loadgen": "wrk", "port": 8080, "backlog": 8192, "server_log": False, "order": "paired",
        "cpus": {"server": "1", "load": "0"}, "baseline": "nginx"}
    assert settings(options(), loadgen="weighttp")["cpus"] == {"server": "not pinned", "load": "not pinned"}


def test_env_json_settings_come_from_the_table():
    table = (Option("port", Whole(1), shown=Shown("where.port", "first port")),
             Option("backlog", Whole(1), shown=Shown("backlog", "listen backlog", lambda value: f"{value} sockets")))
    assert settings(options(), table) == {"where": {"port": 8080}, "backlog": "8192 sockets"}
    assert set(settings(options())) == set(LABELS)  # every key written has its label in the report


@pytest.mark.parametrize("option", FIELDS, ids=lambda option: option.name)
def test_resume_refuses_a_change_exactly_to_the_options_the_table_calls_resumable(option):
    chosen = options()
    changed = {str: "other", int: 7, bool: True, tuple: ("other",), dict: {"other": 1}, type(None): "other"}
    value = getattr(chosen, option.name)
    other = replace(chosen, **{option.name: changed[type(value)] if value != changed[type(value)] else "x"})
    conflicts = resume_conflicts(chosen, other)
    assert conflicts == ([f"{option.name}: {json.loads(json.dumps(value))} vs "
                          f"{json.loads(json.dumps(getattr(other, option.name)))}"] if option.resumable else [])


def test_an_older_run_folder_resumes_with_what_its_harness_had(tmp_path):
    """The report fixture's env.json was written before order, CPU pinning, several load hosts, Twisted
    versions, the baseline and bench.start_timeout: a run like it resumes as it was measured."""
    env = json.loads(FIXTURE_ENV.read_text())
    assert not {"order", "server_cpus", "load_hosts", "twisted", "baseline", "start_timeout"} & set(env["options"])
    env["options"]["statistics"] = options().statistics  # what an older run lacks that it must have
    (tmp_path / "env.json").write_text(json.dumps(env))
    back = stored(tmp_path, project_config())
    assert (back.order, back.server_cpus, back.load_cpus, back.load_hosts) == ("sequential", (), (), ())
    assert (back.twisted, back.baseline) == (None, "nginx")
    assert back.start_timeout == project_config().bench.start_timeout
    assert back.profile == env["options"]["profile"] and back.repeats == env["options"]["repeats"]


def test_an_older_run_without_the_stopping_rule_is_refused_in_one_line(tmp_path):
    (tmp_path / "env.json").write_text(FIXTURE_ENV.read_text())
    with pytest.raises(BenchError) as caught:
        stored(tmp_path, project_config())
    assert str(caught.value) == (f"{tmp_path}/env.json: option statistics has no 'ci_target' — another harness "
                                 f"wrote it, or it was edited: start a new run instead of resuming")


def test_only_the_run_flags_given_make_a_resume_compare_settings():
    """As the task gets them: every flag, None or False when not given, [] for a repeatable one."""
    untouched = {flag: False if default is False else None for flag, default in
                 ((name, parameter.default) for name, parameter in signature().parameters.items() if name != "c")}
    untouched["load_host"] = []
    assert run_flags({**untouched, "resume": "reports/x", "key": "id", "trust_new_host": True}) == {}
    assert run_flags({**untouched, "resume": "reports/x", "payloads": "40"}) == {"payloads": "40"}


@pytest.mark.parametrize("flags, message", [
    ({"pipeline": "16"}, "--pipeline 16 needs keep-alive (a connection that closes carries one request): add --keepalive"),
    ({"pipeline": "0", "keepalive": True}, "--pipeline 0 is out of range: choose 1 to 1024 requests per connection"),
    ({"pipeline": "16", "keepalive": True, "loadgen": "wrk"},
     "--pipeline with wrk: wrk cannot pipeline requests; choose --loadgen weighttp or h2load"),
    ({"latency": True, "load_host": ["root@10.0.0.2", "root@10.0.0.3"]},
     "--latency measures percentiles from one wrk2, and those of several load hosts never add up: give one --load-host"),
])
def test_pipelining_and_the_sweep_are_refused_where_they_cannot_measure(flags, message):
    with pytest.raises(BenchError) as caught:
        options(**flags)
    assert str(caught.value) == message


def test_latency_sweeps_as_bench_latency_says_and_a_resume_keeps_it_and_the_pipeline():
    plain_run, swept = options(), options(latency=True, pipeline="16", keepalive=True, loadgen="weighttp")
    assert (plain_run.latency, plain_run.pipeline) == (False, 1)
    assert swept.latency is True and swept.sweep == plain(project_config().bench.latency) and swept.pipeline == 16
    assert {conflict.split(":")[0] for conflict in resume_conflicts(plain_run, swept)} >= {"latency", "pipeline"}
    older = plain_run.to_dict()
    for name in ("latency", "sweep", "pipeline"):
        del older[name]
    back = Options.from_dict(older)  # a run stored before either existed: no sweep, no pipelining
    assert (back.latency, back.sweep, back.pipeline) == (False, None, 1)


def test_a_sweep_step_too_short_for_wrk2_s_calibration_is_refused_before_anything_starts():
    with pytest.raises(BenchError, match=r"^bench.latency.step is 12s: wrk2 calibrates each thread for 10 s plus 5 ms "
                                         r"per connection first, so 200 connections on 1 threads need a step of at "
                                         r"least 13s$"):
        resolve(config_with("bench.latency.step", 12), {"latency": True})
    resolve(config_with("bench.latency.step", 12), {})  # no --latency: bench.latency is not used
