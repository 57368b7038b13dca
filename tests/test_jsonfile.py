"""A damaged run folder is one line naming the file and the field, in `inv report`, `inv compare` and
`inv bench --resume` alike: never a traceback, and nothing measured or started."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from invoke import Config, Context, Exit
from support import options

from bench.envfile import read_env
from bench.jsonfile import Each, Keyed, Range, conforms, loads
from bench.records import read_records
from bench.tasks.compare import compare
from bench.tasks.run import bench, report

PROJECT = Path(__file__).resolve().parents[1]
FIXTURE = PROJECT / "tests" / "report" / "fixtures" / "report"
# A lab host nothing listens on: a resume that got past reading the folder stops there, measuring nothing.
NOWHERE = "root@127.0.0.1:1"


def records_of(change):
    def mutate(records, env):
        change(records[1])
    return mutate


def run_of(change):
    def mutate(records, env):
        change(records[1]["runs"][-1])  # a measured run
    return mutate


def host_of(change):
    def mutate(records, env):
        change(env["hosts"][0])
    return mutate


def env_of(change):
    def mutate(records, env):
        change(env)
    return mutate


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


# name -> (file damaged, how, what the one line must say)
DAMAGED = {
    "results.jsonl not UTF-8": ("results.jsonl", b"\xe9t\xe9\n", "results.jsonl is not UTF-8 text"),
    "results.jsonl a folder": ("results.jsonl", "folder", "results.jsonl is a folder, not the run's results.jsonl"),
    "a record's number of 5000 digits": ("results.jsonl", '{"warmup_rounds": ' + "9" * 5000 + "}\n",
                                         "line 7 holds a number too long to read"),
    "a record nested 100000 deep": ("results.jsonl", deep(100000) + "\n", "line 7 is nested deeper than 32 levels"),
    "a record nested 40 deep": ("results.jsonl", deep(40) + "\n", "line 7 is nested deeper than 32 levels"),
    "a record's NaN": ("results.jsonl", run_of(lambda run: run.update(req_per_s="NaN!")), "holds NaN, which is no number"),
    "a record's 1e999": ("results.jsonl", run_of(lambda run: run.update(req_per_s="1e999!")), "holds the number inf"),
    "a record's 1e300 req/s": ("results.jsonl", run_of(lambda run: run.update(req_per_s=1e300)), "holds the number 1e+300"),
    "a record's line a list": ("results.jsonl", "[1, 2]\n", "line 7 is not a cell record: a record is a JSON object"),
    "verdicts: [{}]": ("results.jsonl", records_of(lambda r: r.update(verdicts=[{}])),
                       "line 2 is not a cell record: the record's 'verdicts'[0] is {}, not str"),
    "reasons: [1]": ("results.jsonl", records_of(lambda r: r.update(reasons=[1])), "the record's 'reasons'[0] is 1"),
    "workers: 0": ("results.jsonl", records_of(lambda r: r["cell"].update(workers=0)),
                   "the cell's 'workers' is 0, not a whole number from 1"),
    "a worker named x": ("results.jsonl", records_of(lambda r: r.update(workers={"x": 5})),
                         "the record's 'workers' has the key 'x'"),
    "spread: {}": ("results.jsonl", records_of(lambda r: r.update(spread={})), "the record's 'spread' has no 'min_share'"),
    "hosts: ['x'] in a record": ("results.jsonl", records_of(lambda r: r.update(hosts=["x"])),
                                 "the record's 'hosts' is ['x'], not an object"),
    "a status count in words": ("results.jsonl", run_of(lambda run: run.update(status={"2xx": "many"})),
                                "the run's 'status'['2xx'] is 'many'"),
    "a latency in words": ("results.jsonl", run_of(lambda run: run.update(latency_us={"p50": "fast"})),
                           "the run's 'latency_us'['p50'] is 'fast'"),
    "a sample in words": ("results.jsonl", run_of(lambda run: run.update(sample={"server_cores": "x"})),
                          "the run's 'sample'['server_cores'] is 'x'"),
    "a negative req/s": ("results.jsonl", run_of(lambda run: run.update(req_per_s=-5)),
                         "the run's 'req_per_s' is -5, not a number from 0"),
    "a sample with no RSS": ("results.jsonl", run_of(lambda run: run["sample"].pop("server_rss_mb")),
                             "the run's 'sample' has 'server_cores' but no 'server_rss_mb'"),
    "a sample's machine CPUs with no busy cores": ("results.jsonl", run_of(lambda run: run["sample"].update(host_cpus=2)),
                                                    "the run's 'sample' has 'host_cpus' but no 'host_busy_cores'"),
    "parts: ['x']": ("results.jsonl", run_of(lambda run: run.update(parts=["x"])), "the run's 'parts'[0] is 'x'"),
    "a record's format [3]": ("results.jsonl", records_of(lambda r: r.update(format=[3])), "line 2 is in format [3]"),
    "env.json not UTF-8": ("env.json", b'{"run": "caf\xe9"}', "env.json is not UTF-8 text"),
    "env.json a folder": ("env.json", "folder", "env.json is a folder, not the run's env.json"),
    "env.json's number of 5000 digits": ("env.json", '{"run": ' + "9" * 5000 + "}", "holds a number too long to read"),
    "env.json nested 100000 deep": ("env.json", '{"settings": ' + deep(100000) + "}", "is nested deeper than 32 levels"),
    "env.json nested 500 deep": ("env.json", '{"settings": {"load": ' + deep(500) + "}}", "is nested deeper than 32"),
    "env.json's NaN": ("env.json", '{"run": NaN}', "holds NaN, which is no number"),
    "env.json a list": ("env.json", "[1]", "env.json holds a JSON list, not an object"),
    "env.json not JSON": ("env.json", "{oops", "env.json is not JSON"),
    'hosts: ["x"]': ("env.json", env_of(lambda env: env.update(hosts=["x"])),
                     "env.json: env['hosts'][0] is 'x', not an object"),
    "hosts: {}": ("env.json", env_of(lambda env: env.update(hosts={})), "env['hosts'] is {}, not a list"),
    "settings: []": ("env.json", env_of(lambda env: env.update(settings=[])), "env['settings'] is [], not an object"),
    "settings' cpus in words": ("env.json", env_of(lambda env: env["settings"].update(cpus="0-1")),
                                "env['settings']['cpus'] is '0-1', not an object"),
    "run: 5": ("env.json", env_of(lambda env: env.update(run=5)), "env['run'] is 5, not str"),
    "options: []": ("env.json", env_of(lambda env: env.update(options=[])), "env['options'] is [], not an object"),
    "format: 'three'": ("env.json", env_of(lambda env: env.update(format="three")), "is in format 'three'"),
    "a host with no name": ("env.json", host_of(lambda host: host.pop("name")), "env['hosts'][0] has no 'name'"),
    "nofile: [1]": ("env.json", host_of(lambda host: host.update(nofile=[1])), "env['hosts'][0]['nofile'] is [1]"),
    "memory in words": ("env.json", host_of(lambda host: host.update(memory_kb="lots")),
                        "env['hosts'][0]['memory_kb'] is 'lots'"),
    "sysctl: []": ("env.json", host_of(lambda host: host.update(sysctl=[])), "env['hosts'][0]['sysctl'] is []"),
    "a python that is a list": ("env.json", host_of(lambda host: host["pythons"].update(cpython=[])),
                                "env['hosts'][0]['pythons']['cpython'] is []"),
    "a tuning row in words": ("env.json", host_of(lambda host: host["tuning"]["settings"].update({"fs.file-max": "x"})),
                              "env['hosts'][0]['tuning']['settings']['fs.file-max'] is 'x'"),
    "tuned: 'yes'": ("env.json", host_of(lambda host: host["tuning"]["settings"]["fs.file-max"].update(tuned="yes")),
                     "['fs.file-max']['tuned'] is 'yes', not bool or null"),
    "manifest tools: []": ("env.json", host_of(lambda host: host.update(manifest={"tools": []})),
                           "env['hosts'][0]['manifest']['tools'] is [], not an object"),
    "a load generator's source in words": ("env.json", host_of(lambda host: host["loadgen"].update(source="x")),
                                           "env['hosts'][0]['loadgen']['source'] is 'x'"),
}
# Fields a reader takes only where others are present: a folder without them is read, and renders.
PARTIAL = {
    "a python with no version": host_of(lambda host: host["pythons"].update(cpython={"implementation": "CPython"})),
    "a replaced load generator with no name": host_of(lambda host: host.update(loadgen={"replaced": "wrk chosen"})),
    "a tarball source with no file": host_of(lambda host: host.update(manifest={"tools": {"x": {"source": {
        "kind": "tarball"}}}})),
    "a fallback with a fetch of no file": host_of(lambda host: host["loadgen"].update(source={
        "kind": "fallback", "fetch": {}})),
    "a host with no nofile": host_of(lambda host: host.pop("nofile")),
    "a sample with only its wall time": run_of(lambda run: run.update(sample={"wall_s": 1.0})),
    "spread and workers gone": records_of(lambda r: r.update(spread=None, workers={})),
}


def write_folder(folder: Path, records: list[dict], env: dict) -> Path:
    folder.mkdir(parents=True)
    (folder / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (folder / "env.json").write_text(json.dumps(env))
    return folder


def good_parts() -> tuple[list[dict], dict]:
    records = [json.loads(line) for line in (FIXTURE / "results.jsonl").read_text().splitlines()]
    env = json.loads((FIXTURE / "env.json").read_text())
    env["options"] = {**options(name="x").to_dict(), "server_host": NOWHERE, "load_hosts": [NOWHERE]}
    env["format"] = 3
    return records, env


def damaged_folder(tmp_path: Path, name: str) -> Path:
    file, how, _ = DAMAGED[name]
    records, env = good_parts()
    if callable(how):
        how(records, env)
    folder = write_folder(tmp_path / "damaged", records, env)
    target = folder / file
    if how == "folder":
        target.unlink()
        target.mkdir()
    elif isinstance(how, bytes):
        target.write_bytes(how if file == "env.json" else target.read_bytes() + how)
    elif isinstance(how, str):
        if file == "env.json":
            target.write_text(how)
        else:
            target.write_text(target.read_text() + how)
    else:  # NaN and 1e999 are no JSON Python writes: put them in by hand
        target.write_text(target.read_text().replace('"NaN!"', "NaN").replace('"1e999!"', "1e999"))
    return folder


def context(tmp_path: Path) -> Context:
    config = Config(project_location=str(PROJECT))
    config.load_project()
    config.bench.reports = str(tmp_path / "reports")
    return Context(config)


def one_line(call) -> str:
    """The task's one-line error: invoke prints an Exit's message on stderr and exits 1."""
    with pytest.raises(Exit) as caught:
        call()
    message = caught.value.message
    assert caught.value.code == 1 and message.startswith("error: ") and "\n" not in message
    return message


def test_the_undamaged_folder_reads_and_a_resume_of_it_gets_as_far_as_the_lab(tmp_path):
    records, env = good_parts()
    good = write_folder(tmp_path / "good", records, env)
    c = context(tmp_path)
    report(c, str(good))
    compare(c, str(good), str(good))
    assert NOWHERE in one_line(lambda: bench(c, resume=str(good)))


@pytest.mark.parametrize("name", DAMAGED)
def test_a_damaged_run_folder_is_one_line_in_report_compare_and_resume(tmp_path, name, capsys):
    file, _, said = DAMAGED[name]
    damaged = damaged_folder(tmp_path, name)
    records, env = good_parts()
    good = write_folder(tmp_path / "good", records, env)
    c = context(tmp_path)
    for call in (lambda: report(c, str(damaged)), lambda: compare(c, str(good), str(damaged), force=True),
                 lambda: compare(c, str(damaged), str(good)), lambda: bench(c, resume=str(damaged))):
        message = one_line(call)
        assert f"{damaged / file}" in message and said in message, message
    assert not (damaged / "report.md").exists() and not list(damaged.glob("chart-*.png"))
    assert not (tmp_path / "reports").exists()


# -- the pieces ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, reason", [
    ('{"a": 1}', None),
    ("[" * 32 + "]" * 32, None),
    ("[" * 33 + "]" * 33, "is nested deeper than 32 levels"),
    ("-Infinity", "holds -Infinity, which is no number"),
    (str(2**63), "holds the number 9223372036854775808, out of any range"),
    (str(2**63 - 1), None),
    ("{", "is not JSON (Expecting property name enclosed in double quotes at line 1 column 2)"),
])
def test_loads_takes_only_json_the_harness_could_have_written(text, reason):
    if reason is None:
        loads(text)
    else:
        with pytest.raises(ValueError, match=rf"^{reason}".replace("(", r"\(").replace(")", r"\)")):
            loads(text)


@pytest.mark.parametrize("value, shape, error", [
    ({"a": [1, 2]}, ({"a": ((Each((int,)),), True)},), None),
    ({"a": [1, "x"]}, ({"a": ((Each((int,)),), True)},), "the run['a'][1] is 'x', not int"),
    ({}, ({"a": ((int,), True)},), "the run has no 'a'"),
    (True, (int,), "the run is True, not int"),
    (True, (bool, int), None),
    (0, (Range((int,), 1),), "the run is 0, not a whole number from 1"),
    (2.5, (Range((int, float), 0, 2),), "the run is 2.5, not a number from 0 to 2"),
    ({"1": 3, "b": 4}, (Keyed((int,), keys="[0-9]+"),), "the run has the key 'b', not one like [0-9]+"),
    ("x" * 100, (int, type(None)), "the run is 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…(102 characters), not int or null"),
])
def test_conforms_names_the_value_that_is_not_of_its_shape(value, shape, error):
    if error is None:
        conforms(value, shape, "the run")
    else:
        with pytest.raises(ValueError) as caught:
            conforms(value, shape, "the run")
        assert str(caught.value) == error


def test_a_missing_file_reads_as_absent(tmp_path):
    assert read_env(tmp_path / "env.json") == {} and read_records(tmp_path / "results.jsonl") == []


@pytest.mark.parametrize("name", PARTIAL)
def test_a_folder_missing_only_what_may_be_missing_renders(tmp_path, name):
    records, env = good_parts()
    PARTIAL[name](records, env)
    folder = write_folder(tmp_path / "partial", records, env)
    c = context(tmp_path)
    report(c, str(folder))
    compare(c, str(folder), str(write_folder(tmp_path / "good", *good_parts())), force=True)
    assert (folder / "report.md").read_text().startswith("# Twisted against Nginx")


@pytest.mark.parametrize("name", ['hosts: ["x"]', "a record nested 100000 deep"])
def test_the_command_line_prints_the_one_line_on_stderr(tmp_path, name):
    damaged = damaged_folder(tmp_path, name)
    good = write_folder(tmp_path / "good", *good_parts())
    for args in (["report", str(damaged)], ["compare", "--force", str(good), str(damaged)]):
        done = subprocess.run([sys.executable, "-m", "invoke", *args], cwd=PROJECT, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 1 and done.stdout == ""
        assert done.stderr.startswith(f"error: {damaged / DAMAGED[name][0]}") and done.stderr.count("\n") == 1
