"""The runner on real servers: what it records when things go right and wrong."""
import os
import shutil
import signal
import socket
import sys
import time
from pathlib import Path

import psutil
import pytest
from support import (
    PINNED_PLACEMENT,
    answer,
    broken_server,
    environments,
    free_port,
    nginx_cell,
    once_listening,
    project_config,
    sampled_record,
    sampled_run,
    twisted_cell,
)
from support import settings as support_settings

from bench import ratios
from bench.config import plain
from bench.errors import BenchError
from bench.hosts import LocalHost
from bench.measure import loadgens
from bench.measure.loadgens.wrk import Wrk
from bench.measure.loading import Loader
from bench.measure.loadgens.wrk2 import Wrk2, shortest_run_s
from bench.measure.runner import Runner
from bench.measure.servers import CellFailed
from bench.measure.sweep import Plan
from bench.measure.servers import Rig, Running
from bench.records import ROUND_CAP, TIME_CAP, CellRecord, Status, read_records

# Every runner a test made, so its work folder under /tmp goes when the test ends.
made: list[Runner] = []


@pytest.fixture(autouse=True)
def remove_work_folders():
    yield
    while made:
        made.pop().cleanup()


def make_runner(tmp_path, interpreters=None, ports=1, loadgen="wrk", sweepers=(), **settings):
    host = LocalHost()
    generator, binary = loadgens.detect(host, loadgen, [loadgen], [])
    lab = Rig(server=host, loaders=(Loader(host, generator, binary),), address="127.0.0.1",
              found={"twisted": environments(**(interpreters or {"cpython": sys.executable})), "nginx": "nginx"},
              server_cpus=os.cpu_count(), sweepers=sweepers)
    runner = Runner(lab, support_settings(tmp_path, **settings), tmp_path / "run")
    made.append(runner)
    runner.prepare([40], ports=ports)
    return runner


def test_a_good_cell_is_recorded_with_its_runs_and_worker_counts(tmp_path):
    warmup = {"duration": 1, **plain(project_config().bench.warmup)}  # invoke.yaml's rule: at most max_rounds
    runner = make_runner(tmp_path, warmup=warmup, repeats=2)
    record = runner.measure(twisted_cell())
    assert record.status == "ok", record.reasons
    flags = [r.warmup for r in record.runs]
    assert flags == sorted(flags, reverse=True), "warm-ups come first"
    assert 1 <= flags.count(True) == record.warmup_rounds <= warmup["max_rounds"]
    assert 2 <= flags.count(False) <= 5
    for run in record.runs:
        if run.warmup:
            assert run.sample is None
        else:
            assert run.sample["server_cores"] > 0 and run.sample["server_processes"] == 3
            assert 0 < run.sample["loadgen_cores"] <= 1.2  # wrk -t1: one thread
            # The machine saw at least the server and wrk, both on it; the harness is measured too.
            assert run.sample["host_cpus"] == os.cpu_count()
            busy = run.sample["server_cores"] + run.sample["loadgen_cores"] + run.sample["harness_cores"]
            assert run.sample["host_busy_cores"] >= min(busy, run.sample["host_cpus"]) - 0.15
            # Waiting on the load costs the harness less than a clock tick, so it may read 0.
            assert 0 <= run.sample["harness_cores"] < 0.5 and run.sample["other_cores"] >= 0
    assert sum(record.workers.values()) >= sum(r.requests_done for r in record.runs)
    assert record.timing["overhead"] < 5
    assert read_records(runner.results)[0].id == record.id
    assert (runner.run_dir / record.server_log).exists()


def test_a_server_that_exits_at_start_fails_its_cell_with_the_log_tail(tmp_path):
    runner = make_runner(tmp_path, interpreters={"cpython": "/bin/false"})
    record = runner.measure(twisted_cell())
    assert record.status == "failed"
    assert "exited at start" in record.reasons[0]
    assert read_records(runner.results)[0].status == "failed"


def test_a_server_that_never_answers_is_stopped_and_failed(tmp_path):
    silent = tmp_path / "silent-python"
    silent.write_text("#!/bin/sh\nexec sleep 60\n")
    silent.chmod(0o755)
    runner = make_runner(tmp_path, interpreters={"cpython": str(silent)}, start_timeout=1)
    before = {p.pid for p in psutil.process_iter() if p.name() == "sleep"}
    record = runner.measure(twisted_cell())
    assert record.status == "failed"
    assert "did not answer" in record.reasons[0]
    time.sleep(0.2)
    after = {p.pid for p in psutil.process_iter() if p.name() == "sleep" and p.status() != psutil.STATUS_ZOMBIE}
    assert not after - before, "the silent server was left running"


def test_a_worker_dying_mid_run_flags_the_cell(tmp_path):
    runner = make_runner(tmp_path, repeats=2)
    cell = twisted_cell()
    log = Path(runner.workdir) / "logs" / f"{cell.id}.log"

    def kill_a_worker(events):
        os.kill(next(e for e in events if e["event"] == "ready")["pid"], signal.SIGKILL)

    killer = once_listening(log, 0.3, kill_a_worker)
    record = runner.measure(cell)
    killer.join()
    assert record.status == "flagged"
    assert any("died" in reason for reason in record.reasons)


def test_a_port_in_use_is_refused_up_front(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(BenchError, match="in use"):
            make_runner(tmp_path, port=busy.getsockname()[1])


def test_a_case_is_measured_in_paired_rounds(tmp_path):
    runner = make_runner(tmp_path, repeats=2, max_repeats=3, ports=2)
    try:
        cells = [nginx_cell(), twisted_cell()]
        nginx, twisted = runner.measure_case(cells, group="case-1")
    finally:
        runner.cleanup()
    for record in (nginx, twisted):
        assert record.status == "ok", record.reasons
        assert record.group == "case-1"
    rounds = [run.round for run in nginx.measured]
    assert rounds == [run.round for run in twisted.measured] == list(range(len(rounds)))
    assert 2 <= len(rounds) <= 3
    assert len(ratios.round_ratios(twisted, nginx)) == len(rounds)
    # min_rounds 6: only a cap can end these rounds, and each record keeps which and when
    assert nginx.stopping == twisted.stopping and twisted.stopping["rounds"] == len(rounds)
    assert twisted.stopping["ended"] in (ROUND_CAP, TIME_CAP) and twisted.stopping["seconds"] > 0
    assert read_records(runner.results)[1].stopping == twisted.stopping
    assert ratios.ratio(twisted, nginx).low > 0
    ports = {record.server_command for record in (nginx, twisted)}
    assert len(ports) == 2  # each server had a port of its own
    assert [r.id for r in read_records(runner.results)] == [nginx.id, twisted.id]


def test_a_load_with_failed_requests_flags_its_cell_and_is_no_number(tmp_path):
    runner = make_runner(tmp_path)
    cell = twisted_cell()
    closed = free_port()  # nothing listens there: every request fails
    record = CellRecord(cell=cell)
    result = runner._load(record, Running(cell=cell, port=closed, url=f"http://127.0.0.1:{closed}/", pid=os.getpid()),
                          warmup=False, round_number=0)
    assert result is not None and not result.clean
    assert record.status is Status.FLAGGED and "succeeded" in record.reasons[0]
    assert record.measured == [result] and record.numbers == []


def test_each_run_makes_a_fresh_private_work_folder_and_removes_only_that(tmp_path):
    # A folder by the old fixed name, as another run (or another user) may hold it.
    other = Path(f"/tmp/twisted-lab-test-{os.getpid()}")
    other.mkdir()
    (other / "keep").write_text("another run's file")
    try:
        first = make_runner(tmp_path / "a", work_name=other.name.removeprefix("twisted-lab-"))
        second = make_runner(tmp_path / "b", work_name=other.name.removeprefix("twisted-lab-"))
        folders = [Path(first.workdir), Path(second.workdir)]
        assert folders[0] != folders[1] and other not in folders
        for folder in folders:
            assert folder.name.startswith(f"{other.name}.")
            assert folder.stat().st_uid == os.geteuid()
            # nobody (Nginx's workers) may pass through it and read www/, not list it or write there.
            assert folder.stat().st_mode & 0o777 == 0o711
            assert (folder / "www").stat().st_mode & 0o777 == 0o755
        first.cleanup()
        assert not folders[0].exists() and folders[1].exists()
        assert (other / "keep").exists()
        second.cleanup()
        assert not folders[1].exists() and (other / "keep").exists()
    finally:
        shutil.rmtree(other)


def test_a_runner_refused_at_prepare_removes_its_own_folder_only(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        local = LocalHost()
        runner = Runner(Rig(server=local, loaders=(Loader(local, Wrk(), "wrk"),),
                            address="127.0.0.1", found={}, server_cpus=1),
                        support_settings(tmp_path, port=busy.getsockname()[1]), tmp_path / "run")
        assert runner.made == []
        runner.cleanup()  # before prepare: nothing of its own, nothing removed
        with pytest.raises(BenchError, match="in use"):
            runner.prepare([40])
    (host, folder), = runner.made
    assert Path(folder).is_dir()
    runner.cleanup()
    assert not Path(folder).exists() and runner.made == []


def test_the_runner_judges_a_cell_from_its_samples_and_the_runs_cpus(tmp_path):
    # No server runs: _verdicts and _placement read the record and the run's settings only.
    host = LocalHost()
    generator, binary = loadgens.detect(host, "wrk", ["wrk"], [])
    rig = Rig(server=host, loaders=(Loader(host, generator, binary),), address="127.0.0.1", found={"nginx": "nginx"},
              server_cpus=2)
    pinned = Runner(rig, support_settings(tmp_path, server_cpus=(1,), load_cpus=(0,)), tmp_path / "pinned")
    unpinned = Runner(rig, support_settings(tmp_path), tmp_path / "unpinned")
    # Nginx's 2 workers at 1.0 core in all, weighttp at 0.95, the 2-CPU machine full.
    pinned_runs = [sampled_run(server=1.0, loadgen=0.95, busy=[0.97, 1.0], placement=PINNED_PLACEMENT) for _ in range(3)]
    unpinned_runs = [sampled_run(server=1.0, loadgen=0.95, busy=1.97) for _ in range(3)]
    # On its one CPU the server was busy, and nothing else took it ...
    assert pinned._verdicts(sampled_record("nginx", pinned_runs, workers=2)) == ["client-bound", "both saturated"]
    # ... on two, its second worker had no CPU left.
    assert unpinned._verdicts(sampled_record("nginx", unpinned_runs, workers=2)) == [
        "client-bound", "both saturated", "machine-bound"]
    assert pinned._placement() == PINNED_PLACEMENT
    assert unpinned._placement().cpus == ()


# -- the fixed-rate sweep (--latency) and pipelining (--pipeline) ------------------------------

@pytest.mark.wrk2
def test_a_swept_case_keeps_a_step_per_rate_and_server_at_the_same_offered_rates(tmp_path, wrk2):
    """The short real sweep CI runs: real wrk2 (built from its archive), real Nginx and Twisted, two rates."""
    host = LocalHost()
    plan = Plan(grid=(0.02, 0.05), step=shortest_run_s(10, 1), connections=10, threads=1, refine=1)
    runner = make_runner(tmp_path, repeats=2, max_repeats=2, ports=2, latency=plan,
                         sweepers=(Loader(host, Wrk2(), wrk2),))
    nginx, twisted = runner.measure_case([nginx_cell(), twisted_cell()], group="swept")
    assert nginx.status == twisted.status == "ok", nginx.reasons + twisted.reasons
    base = sorted(run.req_per_s for run in nginx.numbers)
    rates = sorted({max(1.0, float(round(sum(base) / len(base) * share))) for share in plan.grid})
    for record in (nginx, twisted):
        # Both held both rates: nothing to refine, so no third step.
        assert [(step.offered_per_s, step.round) for step in record.sweep] == list(zip(rates, range(2)))
        for step in record.sweep:
            assert step.clean and step.tool == "wrk2" and f"-R {round(step.offered_per_s)}" in step.command
            assert step.req_per_s == pytest.approx(step.offered_per_s, rel=0.2)
            assert 0 < step.uncorrected_us["p99"] and 0 < step.latency_us["p50"] <= step.latency_us["p99"]
            assert step.sample["server_cores"] > 0 and step.sample["saturated"] is False
            assert {"server_busy", "machine_bound"} <= set(step.sample)
        assert record.timing["load"] >= sum(step.seconds for step in record.sweep) >= 2 * plan.step
    stored = {record.label: record for record in read_records(runner.results)}
    assert stored["nginx"].sweep == nginx.sweep and stored[twisted.label].sweep == twisted.sweep


def test_a_case_without_latency_sweeps_nothing(tmp_path):
    runner = make_runner(tmp_path)
    assert runner.measure(twisted_cell()).sweep == []
    assert "sweep" not in read_records(runner.results)[0].to_dict()


def test_pipelined_answers_are_checked_before_the_pipelined_load(tmp_path):
    runner = make_runner(tmp_path, loadgen="h2load", repeats=2, ports=2)
    nginx, twisted = runner.measure_case([nginx_cell(loadgen="h2load", pipeline=8),
                                          twisted_cell(loadgen="h2load", pipeline=8)])
    for record in (nginx, twisted):
        assert record.status == "ok", record.reasons
        assert record.verify["pipelined"]["answers"] == 8 and record.cell.pipeline == 8
        assert all(" -m 8 " in run.command and run.clean for run in record.runs)


def test_a_server_that_mishandles_pipelined_requests_fails_its_cell(tmp_path):
    runner = make_runner(tmp_path)
    url, thread = broken_server(lambda methods: [answer(method) for method in reversed(methods)])
    with pytest.raises(CellFailed, match=r"^twisted/cpython/shared/fixed/[0-9.]+ mishandled 4 pipelined requests: answer 1 of 4 "
                                         r"\(GET\): a body of 40 bytes that is not the payload; answer 2 of 4"):
        runner._pipelining(Running(cell=twisted_cell(pipeline=4), port=0, url=url))
    thread.join(5)
