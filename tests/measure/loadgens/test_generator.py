"""The load generator extension point: the registry read from setup.loadgens, capabilities as data, and
detection in the registry's order of preference (real wrk and h2load; weighttp stand-ins in test_weighttp.py)."""
from __future__ import annotations

import shutil
import sys
import types

import pytest
from support import BarePathHost, project_config

from bench.errors import BenchError
from bench.hosts import LocalHost
from bench.measure import matrix, servers
from bench.measure.campaign import check_loads
from bench.measure.loadgens import Capabilities, LoadGenerator, capabilities, detect, load_generator, registry
from bench.measure.loadgens.generator import sized_requests
from bench.measure.loadgens.h2load import H2load
from bench.measure.loadgens.weighttp import Weighttp, Weighttp04, Weighttp05
from bench.measure.loadgens.wrk import Wrk
from bench.measure.loadgens.wrk2 import Wrk2
from bench.measure.loading import Loader
from bench.measure.options import resolve
from bench.records import Load, LoadResult, Variant

URL = "http://127.0.0.1:8080/"
NAMES = ["weighttp", "wrk", "h2load", "wrk2"]


class Counter(LoadGenerator):
    """A generator that only counts requests: what a new module declares, and nothing more."""

    name = program = title = "counter"
    capabilities = Capabilities(requests=True)
    setup = "package"

    def argv(self, load: Load, binary: str) -> list[str]:
        return [binary, str(load.requests), load.url]

    def parse(self, stdout: str, command: str) -> LoadResult:
        return LoadResult(tool=self.name, command=command, seconds=1.0, req_per_s=float(stdout), kbyte_per_s=0.0)


@pytest.fixture
def counter(monkeypatch):
    """bench/measure/loadgens/counter.py, as if it were in the package: a module whose GENERATOR is Counter."""
    module = types.ModuleType("bench.measure.loadgens.counter")
    module.GENERATOR = Counter
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return Counter


# -- the registry -----------------------------------------------------------------------

def test_the_registry_is_invoke_yamls_list_in_its_order():
    assert project_config().setup.loadgens == NAMES
    assert registry(NAMES) == {"weighttp": Weighttp, "wrk": Wrk, "h2load": H2load, "wrk2": Wrk2}
    assert list(registry(["h2load", "wrk"])) == ["h2load", "wrk"]
    formats = {form.name: type(form) for generator in registry(NAMES).values() for form in generator.formats()}
    assert formats == {"weighttp-0.5": Weighttp05, "weighttp-0.4": Weighttp04, "wrk": Wrk, "h2load": H2load, "wrk2": Wrk2}


def test_a_new_generator_is_its_module_plus_its_name_in_the_config(counter):
    assert load_generator("counter") is counter
    config = project_config()
    config.setup.loadgens = [*NAMES, "counter"]
    chosen = resolve(config, {"loadgen": "counter", "requests": "500", "concurrency": "5"})
    assert (chosen.loadgen, chosen.loadgens) == ("counter", (*NAMES, "counter"))
    with pytest.raises(BenchError, match=r"^unknown load generator 'counter' \(--loadgen\): choose from weighttp, wrk, "
                                         r"h2load, wrk2$"):
        resolve(project_config(), {"loadgen": "counter"})  # not in the config: not a choice


@pytest.mark.parametrize("names, message", [
    (["weighttp", "ab"], r"^setup.loadgens names ab, but there is no bench/measure/loadgens/ab.py: add that module "
                         r"or drop ab from setup.loadgens$"),
    (["../wrk"], r"^setup.loadgens names '../wrk', not a load generator's name"),
    (["generator"], r"^bench/measure/loadgens/generator.py has no GENERATOR"),  # a module, but not a generator
    ("wrk", r"^setup.loadgens is 'wrk': list the load generators"),
    ([], r"^setup.loadgens is \[\]: list the load generators"),
])
def test_a_wrong_entry_is_one_line(names, message):
    with pytest.raises(BenchError, match=message):
        registry(names)


def test_a_wrong_entry_in_invoke_yaml_stops_inv_bench_before_it_starts():
    config = project_config()
    config.setup.loadgens = ["weighttp", "siege"]
    with pytest.raises(BenchError, match="no bench/measure/loadgens/siege.py"):
        resolve(config, {})


# -- capabilities as data -------------------------------------------------------------------

def counting_config():
    config = project_config()
    config.setup.loadgens = [*NAMES, "counter"]
    return config


@pytest.mark.parametrize("flags, message", [
    ({"loadgen": "counter", "duration": "2"}, "--duration with counter: counter runs for a request count, not a "
                                              "duration; give --requests COUNT instead"),
    ({"loadgen": "wrk", "requests": "1000"}, "--requests with wrk: wrk runs for a duration, not a request count; "
                                             "give --duration SECONDS instead"),
])
def test_a_load_flag_the_generator_cannot_honour_is_refused_naming_the_other(counter, flags, message):
    with pytest.raises(BenchError) as caught:
        resolve(counting_config(), flags)
    assert str(caught.value) == message


def test_a_load_flag_the_generator_can_honour_is_taken():
    counted = resolve(project_config(), {"loadgen": "h2load", "requests": "1000"})
    assert counted.profile["keepalive"]["requests"] == counted.profile["close"]["requests"] == 1000


NGINX = [(servers.kind("nginx"), [Variant()])]  # the one kind these cells need


def test_a_profile_the_generator_cannot_run_is_refused_in_one_line_before_anything_starts(counter):
    chosen = resolve(counting_config(), {"loadgen": "counter", "profile": "tiny", "servers": "nginx"})
    cells = matrix.plan(servers=NGINX, payloads=chosen.payloads, keepalive=chosen.keepalive, workers=(1,),
                        loadgen="counter", profile=chosen.profile)
    with pytest.raises(BenchError) as caught:
        check_loads(cells, chosen, (Loader(LocalHost(), Counter(), "count"),))
    assert str(caught.value) == ("load profile 'tiny' with counter: counter cannot stop after a duration: give the "
                                 "load requests (e.g. the `seed` profile), or another --loadgen")
    seed = resolve(counting_config(), {"loadgen": "counter", "profile": "seed", "servers": "nginx"})
    check_loads(matrix.plan(servers=NGINX, payloads=seed.payloads, keepalive=seed.keepalive, workers=(1,),
                            loadgen="counter", profile=seed.profile), seed, (Loader(LocalHost(), Counter(), "count"),))  # counts: fine


def test_capabilities_are_declared_and_a_program_can_what_any_of_its_formats_can():
    assert capabilities(Weighttp) == Capabilities(requests=True, duration=True, latency=True, pipelining=True)
    assert Weighttp04.capabilities == Capabilities(requests=True)
    assert capabilities(Wrk) == Capabilities(duration=True, latency=True)
    assert capabilities(H2load) == Capabilities(requests=True, duration=True, latency=True, pipelining=True,
                                                fixed_rate=True)
    assert capabilities(Wrk2) == Capabilities(duration=True, latency=True, fixed_rate=True, closed_loop=False)


@pytest.mark.parametrize("generator, load, message", [
    (Counter(), Load(URL, 10, 1, True, duration=3), "counter cannot stop after a duration: give the load requests"),
    (Weighttp04(), Load(URL, 10, 1, True, duration=3), "weighttp 0.4 cannot stop after a duration"),
    (Wrk(), Load(URL, 10, 1, True, requests=1000), "wrk runs for a duration, not a request count"),
    (H2load(), Load(URL, 10, 1, True), "the load has neither requests nor a duration"),
    (H2load(), Load(URL, 2, 4, True, duration=1), "at least as many connections as threads"),
    (H2load(), Load(URL, 100, 1, True, requests=10), "10 requests for 100 connections: h2load needs requests >= "),
    (Counter(), Load(URL, 100, 1, True, requests=10), "counter needs requests >= concurrency"),
])
def test_a_load_a_generator_cannot_make_is_refused_by_what_it_declares(generator, load, message):
    assert message in generator.refusal(load) and "\n" not in generator.refusal(load)
    with pytest.raises(BenchError, match=message):
        generator.command(load, "tool")


def test_what_a_generator_can_do_it_is_not_refused():
    assert Counter().command(Load(URL, 10, 1, True, requests=100, duration=5), "count") == ["count", "100", URL]
    assert Wrk().refusal(Load(URL, 10, 1, True, requests=5, duration=1)) is None  # the count is not used


@pytest.mark.parametrize("rate, seconds, expected", [
    (None, 1, 7777),  # before a rate: the generator's own default
    (10_000.0, 1.5, 30_000),  # rate x seconds x 2
    (1.0, 10, 500),  # the floor
    (10_000_000.0, 10, 9_000_000),  # the ceiling
])
def test_a_request_count_sized_to_last_a_time(rate, seconds, expected):
    load = Load(URL, 20, 1, False, duration=seconds, rate=rate)
    assert sized_requests(load, seconds, per_second=2, floor=500, ceiling=9_000_000, unsized=7777) == expected


# -- detection, in the order of preference --------------------------------------------

def test_detect_takes_the_first_of_the_order_that_is_installed(tmp_path):
    shutil.copy(shutil.which("h2load"), tmp_path / "h2load")
    shutil.copy(shutil.which("wrk"), tmp_path / "wrk")
    host = BarePathHost(str(tmp_path))
    found, binary = detect(host, None, NAMES, [])
    assert (type(found), binary) == (Wrk, str(tmp_path / "wrk"))  # no weighttp here
    found, binary = detect(host, None, ["h2load", "wrk"], [])
    assert (type(found), binary) == (H2load, str(tmp_path / "h2load"))
    assert H2load.version(LocalHost(), shutil.which("h2load")).startswith("h2load nghttp2/")


def test_detect_prefer_wins_over_the_order(tmp_path):
    found, binary = detect(LocalHost(), "h2load", NAMES, [str(tmp_path)])
    assert type(found) is H2load and binary == shutil.which("h2load")


def test_detect_nothing_installed_names_what_it_looked_for(tmp_path):
    with pytest.raises(BenchError) as error:
        detect(BarePathHost(str(tmp_path)), None, NAMES, [str(tmp_path)])
    assert str(error.value) == ("no load generator found on local (looked for weighttp, wrk, h2load): "
                                "run `inv setup`, which installs them")
    with pytest.raises(BenchError, match=r"^h2load not found on local \(looked in .*, PATH\): "
                                         r"run `inv setup --only h2load`$"):
        detect(BarePathHost(str(tmp_path)), "h2load", NAMES, [str(tmp_path)])


def test_detect_refuses_a_generator_not_in_the_order():
    with pytest.raises(BenchError, match=r"^unknown load generator 'ab': choose from weighttp, wrk, h2load"):
        detect(LocalHost(), "ab", NAMES, [])
    with pytest.raises(BenchError, match="unknown load generator 'h2load': choose from weighttp, wrk "):
        detect(LocalHost(), "h2load", ["weighttp", "wrk"], [])
