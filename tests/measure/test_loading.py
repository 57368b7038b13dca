"""One load from several load hosts at once: split, started together, combined; a lost host stops them all."""
import os
import re
import shlex
import shutil
import signal
import subprocess
import threading
import time

import psutil
import pytest
from support import BarePathHost
from test_remote import inv, namespace_processes, twisted_python_prefix

from bench import lab as namespace_lab
from bench.errors import BenchError, HostLost
from bench.hosts import LocalHost
from bench.measure.loadgens.wrk import Wrk
from bench.measure.loading import Loader, command_line, run, run_round, sessions_for, split
from bench.records import Load, Status, read_records

URL = "http://127.0.0.1:8080/"


def test_split_shares_connections_and_requests_evenly_and_says_the_remainder_goes_first():
    shares = split(Load(URL, concurrency=201, threads=4, keepalive=True, requests=1001), 2)
    assert [(s.concurrency, s.requests, s.threads) for s in shares] == [(101, 501, 4), (100, 500, 4)]
    assert sum(s.concurrency for s in shares) == 201 and sum(s.requests for s in shares) == 1001


def test_split_keeps_requests_at_least_connections_on_every_host_and_threads_at_most():
    for concurrency in range(3, 40):
        for requests in range(concurrency, concurrency + 7):
            for share in split(Load(URL, concurrency, 2, True, requests=requests), 3):
                assert share.requests >= share.concurrency >= share.threads >= 1
    timed = split(Load(URL, 3, 4, False, duration=2), 3)
    assert [(s.concurrency, s.threads, s.duration, s.requests) for s in timed] == [(1, 1, 2, None)] * 3


def test_one_load_host_keeps_the_load_whole_and_too_few_connections_are_refused():
    load = Load(URL, 1, 1, True, duration=1)
    assert split(load, 1) == [load]
    with pytest.raises(BenchError, match=r"^1 connections cannot be shared by 2 load hosts: give --concurrency 2"):
        split(load, 2)


def test_two_load_generators_started_together_add_up(nginx):
    loaders = [Loader(LocalHost(), Wrk(), "wrk"), Loader(LocalHost(), Wrk(), "wrk")]
    with sessions_for(loaders) as sessions:
        result = run_round(sessions, loaders, Load(nginx[0], 8, 2, True, duration=1), timeout=30)
    assert len(result.parts) == 2 and result.clean
    assert result.req_per_s == pytest.approx(sum(part.req_per_s for part in result.parts))
    assert result.requests_done == sum(part.requests_done for part in result.parts) > 0
    assert all(part.req_per_s > 0 and " -c 4 " in part.command for part in result.parts)
    assert result.latency_us == {} and all(part.latency_us["p50"] > 0 for part in result.parts)
    assert [part.sample for part in result.parts] == [{"concurrency": 4, "threads": 2}] * 2


# -- in the namespace lab: a server and two load hosts, over real sshd ---------------------

@pytest.fixture(scope="module")
def lab3(tmp_path_factory):
    """A lab made as a user makes it: `inv lab.up --load-hosts 2` (server, load1, load2)."""
    problem = namespace_lab.missing_requirements()
    if problem:
        pytest.skip(problem)
    root = tmp_path_factory.mktemp("lab3")
    made = subprocess.run(["python3", "-m", "invoke", "lab.up", "--root", str(root), "--load-hosts", "2"],
                          cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    lab = namespace_lab.load(root)
    try:
        yield lab
    finally:
        namespace_lab.down(root)


def bench_flags(lab, name: str, *more: str) -> list[str]:
    return ["bench", "--server-host", lab.host("server").spec, "--load-host", lab.host("load1").spec,
            "--load-host", lab.host("load2").spec, "--keepalive", "--payloads", "40", "--resources", "fixed",
            "--interpreters", "cpython", "--loadgen", "wrk", "--name", name, *more]


@pytest.mark.lab
def test_inv_bench_with_two_load_hosts_reports_both_and_their_sum(tmp_path, lab3):
    done = inv(tmp_path, lab3, *bench_flags(lab3, "two", "--profile", "tiny", "--repeats", "2"),
               prefix=twisted_python_prefix(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    run = tmp_path / "reports" / "two"
    records = read_records(run / "results.jsonl")
    # A Twisted cell's label ends with the Twisted version the host's environment has.
    assert sorted(r.label.rsplit("/", 1)[0] if r.cell.server == "twisted" else r.label for r in records) == [
        "nginx", "twisted/cpython/shared/fixed"]
    loads = [lab3.host("load1").spec, lab3.host("load2").spec]
    for record in records:
        assert record.status is Status.OK, record.reasons
        assert record.hosts["load"] == ", ".join(loads)
        for run_ in record.measured:
            assert [part.host for part in run_.parts] == loads
            assert all(part.succeeded > 0 for part in run_.parts), "both load hosts served requests"
            assert run_.req_per_s == pytest.approx(sum(part.req_per_s for part in run_.parts))
            assert run_.sample["server_cores"] > 0
    report = (run / "report.md").read_text()
    assert "## Load hosts" in report and all(spec in report for spec in loads)
    assert not namespace_processes(lab3)


@pytest.mark.lab
def test_a_load_host_lost_mid_cell_interrupts_it_and_leaves_no_process_anywhere(tmp_path, lab3):
    lost = lab3.host("load2")

    def kill_its_sshd():
        # Every sshd of that host, the listener and its sessions: the host is gone for the harness.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pids = subprocess.run(["ip", "netns", "pids", lost.namespace], capture_output=True, text=True).stdout.split()
            if any(running_wrk(int(pid)) for pid in pids):
                time.sleep(0.5)  # mid-run
                break
            time.sleep(0.1)
        for pid in pids:
            try:
                if psutil.Process(int(pid)).name() == "sshd":
                    os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, psutil.NoSuchProcess):
                pass

    killer = threading.Thread(target=kill_its_sshd)
    killer.start()
    try:
        done = inv(tmp_path, lab3, *bench_flags(lab3, "lost", "--profile", "tiny", "--duration", "5"),
                   prefix=twisted_python_prefix(tmp_path))
    finally:
        killer.join()
        restart(lab3, lost)
    assert done.returncode == 1, done.stdout + done.stderr
    assert lost.address in done.stderr and "--resume" in done.stderr
    records = read_records(tmp_path / "reports" / "lost" / "results.jsonl")
    assert records and all(r.status is Status.INTERRUPTED for r in records)
    assert any(lost.address in reason for r in records for reason in r.reasons)
    time.sleep(0.5)
    assert not namespace_processes(lab3)


def running_wrk(pid: int) -> bool:
    try:
        return psutil.Process(pid).name() == "wrk"
    except psutil.NoSuchProcess:
        return False


def restart(lab, host) -> None:
    """Bring a killed host's sshd back, so the module's other tests find the lab whole."""
    namespace_lab.down(lab)
    assert namespace_lab.up(lab.root, names=tuple(h.name for h in lab.hosts))


def test_a_lost_host_is_host_lost_not_a_failed_cell():
    assert issubclass(HostLost, BenchError)  # the runner keeps the cell as interrupted, measured again on --resume


# -- pinned with taskset ---------------------------------------------------------------------

@pytest.mark.parametrize("binary, cpus, prefix", [
    ("wrk", (), "wrk -c 8"),
    ("wrk", (0,), "taskset -c 0 wrk -c 8"),
    ("wrk", (0, 2, 3), "taskset -c 0,2-3 wrk -c 8"),
    ("/opt/my tools/wrk", (1,), "taskset -c 1 '/opt/my tools/wrk' -c 8"),
])
def test_command_line_pins_with_taskset(binary, cpus, prefix):
    load = Load(URL, 8, 1, True, duration=1)
    text = command_line(Wrk(), load, binary, cpus)
    assert text.startswith(prefix + " ") and text.endswith(" --latency " + URL)
    pinned = ["taskset", "-c", prefix.split()[2]] if cpus else []
    assert shlex.split(text) == pinned + Wrk().command(load, binary)


needs_taskset = pytest.mark.skipif(shutil.which("taskset") is None, reason="taskset is not installed (apt-get install util-linux)")
# A wrk that first says where it may run, so the run's own output shows the pinning took.
WHERE_WRK = '#!/bin/sh\ngrep Cpus_allowed_list /proc/self/status >&2\nexec {wrk} "$@"\n'


@needs_taskset
@pytest.mark.parametrize("cpu", sorted(os.sched_getaffinity(0))[:2])
def test_live_wrk_pinned_with_taskset(nginx, tmp_path, cpu):
    wrapper = tmp_path / "wrk"
    wrapper.write_text(WHERE_WRK.format(wrk=shutil.which("wrk")))
    wrapper.chmod(0o755)
    result = run(LocalHost(), Wrk(), str(wrapper), Load(nginx[0], 8, 1, True, duration=1), timeout=30,
                 cpus=(cpu,))
    assert result.command.startswith(f"taskset -c {cpu} {wrapper} -c 8 ")
    assert result.clean and result.succeeded == result.requests_done > 0
    assert re.search(rf"^Cpus_allowed_list:\s+{cpu}$", result.raw, re.MULTILINE)


@needs_taskset
def test_live_taskset_refusing_the_cpus_is_one_clear_error(nginx):
    with pytest.raises(BenchError, match=r"^taskset could not pin the load generator to CPUs 4095 on local "
                                         r"\(failed to set pid \d+'s affinity: .*\): pick --load-cpus"):
        run(LocalHost(), Wrk(), "wrk", Load(nginx[0], 2, 1, True, duration=1), timeout=30, cpus=(4095,))


def test_live_taskset_missing_is_one_clear_error(nginx, tmp_path):
    shutil.copy(shutil.which("wrk"), tmp_path / "wrk")
    with pytest.raises(BenchError, match=r"^taskset is not installed on local: apt-get install util-linux"):
        run(BarePathHost(str(tmp_path)), Wrk(), "wrk", Load(nginx[0], 2, 1, True, duration=1),
            timeout=30, cpus=(0,))
