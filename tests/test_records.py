"""Records round-trip through results.jsonl and env.json, and say which format they are in."""
import json

import pytest
from support import PROJECT, constructed_record

from bench.envfile import read_env
from bench.errors import BenchError
from bench.measure.loading import combined
from bench.records import (
    FORMAT,
    TIME_CAP,
    CellRecord,
    LoadResult,
    Status,
    append_record,
    latest,
    read_records,
    write_env,
)


def result(**change) -> LoadResult:
    base = dict(tool="wrk", command="wrk", seconds=1.0, req_per_s=100.0, kbyte_per_s=1.0, succeeded=100,
                status={"2xx": 100})
    return LoadResult(**{**base, **change})


def test_a_record_round_trips_with_its_format_and_status(tmp_path):
    record = constructed_record("twisted", 2, [100, 110])
    record.group, record.runs[1].round = "abc", 0
    append_record(tmp_path / "results.jsonl", record)
    line = json.loads((tmp_path / "results.jsonl").read_text())
    assert line["format"] == FORMAT and line["status"] == "ok" and line["id"] == record.id
    (back,) = read_records(tmp_path / "results.jsonl")
    assert back == record and back.status is Status.OK


def test_how_a_cases_rounds_ended_round_trips_and_older_lines_have_none(tmp_path):
    record = constructed_record("twisted", 2, [100, 110])
    record.stopping = {"rounds": 9, "ended": TIME_CAP, "seconds": 47.5, "target": 0.05, "confidence": 0.998}
    append_record(tmp_path / "results.jsonl", record)
    older = constructed_record("nginx", 2, [100, 110]).to_dict()
    del older["stopping"]
    with open(tmp_path / "results.jsonl", "a") as out:
        out.write(json.dumps(older) + "\n")
    (back, old) = read_records(tmp_path / "results.jsonl")
    assert back.stopping == record.stopping and old.stopping is None


def test_a_line_without_a_format_reads_as_format_1(tmp_path):
    data = constructed_record("nginx", 1, [5]).to_dict()
    del data["format"]
    (tmp_path / "results.jsonl").write_text(json.dumps(data) + "\n")
    assert read_records(tmp_path / "results.jsonl")[0].label == "nginx"


@pytest.mark.parametrize("version", [0, 99, "2"])
def test_an_unknown_format_is_refused_in_one_line(tmp_path, version):
    data = {**constructed_record("nginx", 1, [5]).to_dict(), "format": version}
    (tmp_path / "results.jsonl").write_text(json.dumps(data) + "\n")
    with pytest.raises(BenchError, match=r"results.jsonl line 1 is in format .* this harness reads format 1, 2, 3"):
        read_records(tmp_path / "results.jsonl")
    write_env(tmp_path / "env.json", {"run": "x"})
    assert read_env(tmp_path / "env.json")["format"] == FORMAT
    (tmp_path / "env.json").write_text(json.dumps({"format": version}))
    with pytest.raises(BenchError, match="env.json is in format"):
        read_env(tmp_path / "env.json")


def test_flag_keeps_a_worse_status_and_fail_overrides():
    record = constructed_record("nginx", 1, [5])
    record.flag("a bad run")
    assert record.status is Status.FLAGGED
    record.fail("could not start")
    record.flag("while stopping")
    assert record.status is Status.FAILED and record.reasons == ["a bad run", "could not start", "while stopping"]


@pytest.mark.parametrize("change, clean", [
    ({}, True),
    ({"failed": 1}, False),  # one failed request is enough
    ({"errored": 1}, False),
    ({"status": {"2xx": 99, "4xx": 1}}, False),
    ({"succeeded": 0}, False),
])
def test_a_load_result_is_clean_only_when_every_request_answered_2xx(change, clean):
    assert result(**change).clean is clean


def test_numbers_are_the_clean_measured_runs():
    record = CellRecord(cell=constructed_record("nginx", 1, []).cell,
                        runs=[result(warmup=True), result(req_per_s=1.0, failed=3), result(req_per_s=7.0)])
    assert [run.req_per_s for run in record.numbers] == [7.0]


def test_the_last_record_of_a_cell_wins():
    first, again = constructed_record("nginx", 1, [5]), constructed_record("nginx", 1, [6])
    assert latest([first, again]) == [again]


@pytest.mark.parametrize("line, message", [
    ("{}", "line 2 is not a cell record: the record has no 'cell'"),
    ("[1, 2]", "line 2 is not a cell record: a record is a JSON object, not list"),
    ("{oops", "line 2 is not JSON"),
])
def test_a_bad_line_that_is_not_the_last_names_its_number(tmp_path, line, message):
    good = json.dumps(constructed_record("nginx", 1, [5]).to_dict())
    (tmp_path / "results.jsonl").write_text("\n".join([good, line, good]) + "\n")
    with pytest.raises(BenchError, match=message):
        read_records(tmp_path / "results.jsonl")


def test_a_value_of_the_wrong_type_is_named(tmp_path):
    data = constructed_record("nginx", 1, [5]).to_dict()
    data["runs"][1]["req_per_s"] = "fast"
    (tmp_path / "results.jsonl").write_text(json.dumps(data) + "\n")
    with pytest.raises(BenchError, match="line 1 is not a cell record: the run's 'req_per_s' is 'fast', not a number from 0"):
        read_records(tmp_path / "results.jsonl")


def test_a_torn_tail_is_mended_before_the_next_record_is_appended(tmp_path):
    results = tmp_path / "results.jsonl"
    first, second = constructed_record("nginx", 1, [5]), constructed_record("twisted", 1, [4])
    append_record(results, first)
    with open(results, "a") as out:
        out.write('{"cell": {"server": "ngi')  # a crash mid-write
    assert [r.id for r in read_records(results)] == [first.id]  # the torn last line is skipped
    append_record(results, second)
    assert [r.id for r in read_records(results)] == [first.id, second.id]  # nothing lost
    assert (tmp_path / "results.jsonl.torn").read_text() == '{"cell": {"server": "ngi\n'


def test_runs_of_several_load_hosts_combine_by_sum_and_keep_each_hosts_latency(tmp_path):
    one = result(host="a", req_per_s=100.0, succeeded=100, requests_done=100, bytes_total=1000, cpu_s=0.5,
                 latency_us={"p50": 10.0}, status={"2xx": 100})
    two = result(host="b", req_per_s=60.0, succeeded=60, requests_done=60, bytes_total=600, cpu_s=0.25,
                 seconds=1.5, latency_us={"p50": 90.0}, status={"2xx": 59, "5xx": 1}, failed=1)
    whole = combined([one, two])
    assert (whole.req_per_s, whole.succeeded, whole.requests_done, whole.bytes_total) == (160.0, 160, 160, 1600)
    assert whole.cpu_s == 0.75 and whole.seconds == 1.5 and whole.status == {"2xx": 159, "5xx": 1}
    assert whole.latency_us == {} and [part.latency_us["p50"] for part in whole.parts] == [10.0, 90.0]
    assert not whole.clean  # one host's failed request spoils the round
    record = constructed_record("nginx", 1, [5])
    record.runs.append(whole)
    append_record(tmp_path / "results.jsonl", record)
    (back,) = read_records(tmp_path / "results.jsonl")
    assert back.runs[-1] == whole and back.runs[-1].parts[1].host == "b"


def test_a_round_where_one_load_host_served_nothing_is_not_clean():
    served = result(host="a")
    idle = result(host="b", succeeded=0, req_per_s=0.0, status={})
    assert served.clean and not idle.clean
    assert not combined([served, idle]).clean


def test_a_whole_last_record_short_of_its_newline_gets_it_and_is_kept(tmp_path):
    """--resume counts such a record as measured: the next append must not move it to .torn."""
    results = tmp_path / "results.jsonl"
    first, second = constructed_record("nginx", 1, [5]), constructed_record("twisted", 1, [4])
    results.write_text(json.dumps(first.to_dict()))  # a crash between the record and its newline
    assert [r.id for r in read_records(results)] == [first.id]
    append_record(results, second)
    assert [r.id for r in read_records(results)] == [first.id, second.id]
    assert results.read_text().count("\n") == 2 and not (tmp_path / "results.jsonl.torn").exists()


FORMAT3 = PROJECT / "tests" / "report" / "fixtures" / "format3" / "results.jsonl"


def test_a_format_3_cell_reads_as_its_kind_and_variant_with_its_label():
    lines = [json.loads(line) for line in FORMAT3.read_text().splitlines()]
    records = read_records(FORMAT3)
    assert [line["format"] for line in lines] == [3, 3, 3]
    for line, record in zip(lines, records):
        assert record.label == line["label"]  # 'nginx', 'twisted/pypy/shared/fixed': as its harness named it
        old = line["cell"]
        if old["interpreter"] is None:
            assert record.cell.variant == {}
        else:
            assert record.cell.variant == {key: old[key] for key in ("interpreter", "mode", "resource")}
        assert (record.cell.server, record.cell.workers, record.cell.payload) == (old["server"], old["workers"],
                                                                                  old["payload"])


def test_a_format_3_record_is_written_again_in_the_current_format(tmp_path):
    for record in read_records(FORMAT3):
        append_record(tmp_path / "results.jsonl", record)
    lines = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert [(line["format"], line["cell"]["variant"].get("interpreter")) for line in lines] == [
        (FORMAT, None), (FORMAT, "pypy"), (FORMAT, "cpython")]
    assert read_records(tmp_path / "results.jsonl") == read_records(FORMAT3)


@pytest.mark.parametrize("change, message", [
    (lambda cell: cell.pop("mode"), "the cell has no 'mode'"),
    (lambda cell: cell.update(variant={"Interpreter": "pypy"}), "the cell's 'variant' has the key 'Interpreter'"),
    (lambda cell: cell.update(variant={"interpreter": 3}), r"the cell's 'variant'\['interpreter'\] is 3"),
])
def test_a_cell_of_neither_shape_is_refused_naming_the_field(tmp_path, change, message):
    line = json.loads(FORMAT3.read_text().splitlines()[1])
    change(line["cell"])
    (tmp_path / "results.jsonl").write_text(json.dumps(line) + "\n")
    with pytest.raises(BenchError, match=message):
        read_records(tmp_path / "results.jsonl")
