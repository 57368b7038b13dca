"""Remote runs: the server on one namespace lab host, the load generator on another, over real sshd."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import HARNESS_TWISTED, environments, nginx_cell, once_listening, settings, twisted_cell

from bench import lab as lab_module
from bench import manifest as bench_manifest
from bench.errors import HostLost
from bench.measure import loadgens
from bench.measure.loading import Loader
from bench.measure.runner import Runner
from bench.measure.servers import Rig
from bench.records import read_records

PROJECT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.lab


def inv(tmp_path, lab, *args, prefix=None, timeout=240):
    env = {**os.environ, "INVOKE_BENCH_REPORTS": str(tmp_path / "reports"),
           "INVOKE_LAB_KEY": str(lab.key), "INVOKE_LAB_KNOWN_HOSTS": str(lab.known_hosts)}
    if prefix:
        env["INVOKE_SETUP_PREFIX"] = str(prefix)
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=PROJECT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def namespace_processes(lab) -> list[str]:
    """Processes inside the lab's namespaces other than their sshd (a run must leave none)."""
    left = []
    for host in lab.hosts:
        pids = subprocess.run(["ip", "netns", "pids", host.namespace], capture_output=True, text=True).stdout.split()
        for pid in pids:
            try:
                line = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state != "Z" and "sshd" not in line:
                left.append(f"{host.name}: {line}")
    return left


def twisted_python_prefix(tmp_path) -> Path:
    """A tools prefix whose CPython environment is this interpreter, which has Twisted."""
    prefix = tmp_path / "prefix"
    venv = prefix / "venvs" / f"cpython-{HARNESS_TWISTED}" / "bin"
    venv.mkdir(parents=True)
    (venv / "python").symlink_to(sys.executable)
    (venv.parent / bench_manifest.MARKER).write_text("")  # what `inv setup` leaves on a complete environment
    return prefix


def test_a_remote_bench_runs_between_two_lab_hosts(tmp_path, lab):
    server, load = lab.host("server"), lab.host("load")
    done = inv(tmp_path, lab, "bench", "--server-host", server.spec, "--load-host", load.spec,
               "--keepalive", "--profile", "tiny", "--payloads", "40", "--repeats", "2", "--resources", "fixed",
               "--interpreters", "cpython", "--loadgen", "wrk", "--name", "remote",
               prefix=twisted_python_prefix(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    run = tmp_path / "reports" / "remote"
    records = read_records(run / "results.jsonl")
    assert {r.label for r in records} == {"nginx", f"twisted/cpython/shared/fixed/{HARNESS_TWISTED}"}
    for record in records:
        assert record.status == "ok", record.reasons
        assert record.hosts == {"server": server.spec, "load": load.spec}
        assert record.server_log and (run / record.server_log).exists()
        assert record.runs[0].command.find(server.address) > 0
    report = (run / "report.md").read_text()
    assert f"server ({server.spec})" in report and f"load ({load.spec})" in report
    # Two addresses, one machine: their identities say so, and the server's machine is read whole.
    machines = {facts["role"]: facts["machine"]["boot_id"] for facts in json.loads((run / "env.json").read_text())["hosts"]}
    assert machines["server"] == machines["load"] != ""
    for record in records:
        for measured in record.measured:
            assert measured.sample["host_cpus"] == os.cpu_count() and measured.sample["other_cores"] >= 0
            assert measured.sample["host_busy_cores"] >= measured.sample["server_cores"] - 0.1
    assert not namespace_processes(lab)


def open_runner(tmp_path, lab, prefix):
    server = lab_module.connect(lab.host("server"))
    load = lab_module.connect(lab.host("load"))
    generator, binary = loadgens.detect(load, "wrk", ["wrk"], [])
    remote_python = str(prefix / "venvs" / f"cpython-{HARNESS_TWISTED}" / "bin" / "python")
    runner = Runner(Rig(server=server, loaders=(Loader(load, generator, binary),), address=lab.host("server").address,
                        found={"twisted": environments(cpython=remote_python), "nginx": "nginx"},
                        server_cpus=os.cpu_count()),
                    settings(tmp_path, port=18090, interface=lab.host("server").address, repeats=3, max_repeats=3,
                             start_timeout=20),
                    tmp_path / "run")
    runner.prepare([40])
    return runner, server, load


def test_a_remote_server_killed_mid_run_is_recorded_and_nothing_is_left(tmp_path, lab):
    runner, server, load = open_runner(tmp_path, lab, twisted_python_prefix(tmp_path))
    cell = twisted_cell()
    log = Path(runner.workdir) / "logs" / f"{cell.id}.log"

    def kill_the_master(events):
        os.kill(next(e for e in events if e["event"] == "listening")["pid"], signal.SIGKILL)

    killer = once_listening(log, 0.5, kill_the_master)
    try:
        record = runner.measure(cell)
    finally:
        killer.join()
        runner.cleanup()
        server.close()
        load.close()
    assert record.status in ("flagged", "failed")
    assert record.reasons
    assert read_records(runner.results)[0].id == cell.id
    time.sleep(0.5)  # orphaned workers notice their master is gone
    assert not namespace_processes(lab)


def test_an_unreachable_lab_host_is_one_line_naming_it(tmp_path, lab):
    nowhere = "root@" + lab.gateway.rsplit(".", 1)[0] + ".250:2222"
    done = inv(tmp_path, lab, "bench", "--server-host", nowhere, "--profile", "tiny", timeout=60)
    assert done.returncode == 1
    assert nowhere.split("@")[1].split(":")[0] in done.stderr and "unreachable" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_an_unknown_host_key_is_refused_unless_trusted(tmp_path, lab):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    server = lab.host("server")
    env = {**os.environ, "INVOKE_BENCH_REPORTS": str(tmp_path / "reports"), "INVOKE_LAB_KEY": str(lab.key),
           "INVOKE_LAB_KNOWN_HOSTS": str(empty)}
    done = subprocess.run([sys.executable, "-m", "invoke", "bench", "--server-host", server.spec, "--profile", "tiny",
                           "--servers", "nginx", "--loadgen", "wrk", "--payloads", "40", "--keepalive"],
                          cwd=PROJECT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "unknown host key" in done.stderr
    assert empty.read_text() == ""


@pytest.fixture
def own_lab(lab_machine, tmp_path):
    """A lab of this test's own: its load host's sshd gets killed."""
    running = lab_module.up(tmp_path / "own-lab")
    yield running
    lab_module.down(running)


def kill_sshd(host) -> None:
    """The host goes away: its sshd and every SSH session on it."""
    pids = subprocess.run(["ip", "netns", "pids", host.namespace], capture_output=True, text=True).stdout.split()
    for pid in pids:
        try:
            if b"sshd" in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(int(pid), signal.SIGKILL)
        except (OSError, ValueError):
            continue


def test_a_connection_dropped_mid_cell_keeps_the_record_and_stops_the_server(tmp_path, own_lab):
    runner, server, load = open_runner(tmp_path, own_lab, twisted_python_prefix(tmp_path))
    cell = twisted_cell(profile={"keepalive": {"duration": 2, "concurrency": 8, "threads": 1}})
    log = Path(runner.workdir) / "logs" / f"{cell.id}.log"

    # 0.8 s after listening, the load generator is running
    dropper = once_listening(log, 0.8, lambda events: kill_sshd(own_lab.host("load")))
    try:
        with pytest.raises(HostLost, match="connection lost"):
            runner.measure(cell)
    finally:
        dropper.join()
        server.close()
        load.close()
    (record,) = read_records(runner.results)
    assert record.status == "interrupted"  # measured again on --resume
    assert record.server_log  # the server was stopped and its log fetched
    time.sleep(0.5)
    assert not [line for line in namespace_processes(own_lab) if line.startswith("server:")]
    # Nothing can reach the lost host; its load generator ends when its duration is up.
    time.sleep(2.5)
    assert not namespace_processes(own_lab)


def count_commands(host) -> dict:
    """Counts what ``host`` sends over its connection: shell commands, and channels opened (jobs too)."""
    counts = {"commands": 0, "channels": 0}
    run, transport = host.connection.run, host.connection.transport
    open_session = transport.open_session

    def counted_run(*args, **kw):
        counts["commands"] += 1
        return run(*args, **kw)

    def counted_open(*args, **kw):
        counts["channels"] += 1
        return open_session(*args, **kw)

    host.connection.run = counted_run
    transport.open_session = counted_open
    return counts


def test_a_remote_case_sends_few_commands_per_cell(tmp_path, lab):
    runner, server, load = open_runner(tmp_path, lab, twisted_python_prefix(tmp_path))
    on_server, on_load = count_commands(server), count_commands(load)
    cells = [nginx_cell(), twisted_cell()]
    try:
        records = runner.measure_case(cells, group="case-1")
    finally:
        runner.cleanup()
        server.close()
        load.close()
    for record in records:
        assert record.status == "ok", record.reasons
        assert record.server_log and (runner.run_dir / record.server_log).exists()
    rounds = sum(1 for record in records for run in record.runs if not run.warmup)
    # Per cell: start, wait until ready (the case's servers start together, then each is waited on) and stop
    # on the server host, plus the work folder's removal; one probe from the load host; per measured run,
    # the load job and the server's watch job. It was 15 and more per cell.
    assert on_server["commands"] <= 3 * len(cells) + 1, on_server
    assert on_load["commands"] <= 2 * len(cells), on_load
    assert on_server["channels"] + on_load["channels"] <= on_server["commands"] + on_load["commands"] + 2 * rounds
    assert not namespace_processes(lab)
