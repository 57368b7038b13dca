"""The Twisted Web server under test, as real processes on CPython and on PyPy."""
from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from standalone_support import harness_flags

from bench.standalone import server
from bench.standalone.command_line import parse_options
from bench.standalone.events import read_events, worker_counts
from bench.standalone.payload import MAX_PAYLOAD, payload_bytes

ROOT = Path(__file__).resolve().parents[2]
SERVER = ROOT / "bench" / "standalone" / "server.py"
PYPY_TWISTED = "26.4.0"


# -- the command line a worker gets ----------------------------------------------------


def test_options_and_worker_command_line(tmp_path):
    payload = tmp_path / "payload.html"
    payload.write_bytes(payload_bytes(40))
    options = parse_options(harness_flags(port=8080, workers=os.cpu_count() or 1, resource="file", file=payload))
    assert (options.port, options.interface, options.backlog, options.mode) == (8080, "127.0.0.1", 8192, "shared")
    assert options.workers == (os.cpu_count() or 1) and options.log is False
    argv = server.worker_argv(options, 1, 43210)
    assert argv[:2] == [sys.executable, str(SERVER)]
    again = parse_options(argv[2:])
    assert (again.worker, again.port, again.file, again.resource) == (1, 43210, str(payload), "file")
    assert parse_options(harness_flags(mode="single")).workers == 1
    pinned = server.worker_argv(parse_options([*harness_flags(), "--cpus", "0,0"]), 0, 1)
    assert pinned[-2:] == ["--cpus", "0"] and "--cpus" not in argv


# -- real processes ----------------------------------------------------------------------


def _gone(pid: int) -> bool:
    """No such process, or only a zombie waiting for a parent to reap it."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class ServerProcess:
    """One server started as the harness starts it: stdout and stderr to one log file."""

    def __init__(self, argv: list[str], log: Path, cwd: Path = ROOT, ignore_sigint: bool = False):
        self.log = log
        # A shell's `cmd &` starts the command with SIGINT ignored.
        preexec = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignore_sigint else None
        with open(log, "ab") as out:
            self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            cwd=cwd, start_new_session=True, preexec_fn=preexec)

    def events(self, kind: str | None = None) -> list[dict]:
        events = read_events(self.log.read_text())
        return [e for e in events if kind is None or e["event"] == kind]

    def wait_listening(self, timeout: float = 60.0) -> dict:
        def listening():
            if self.process.poll() is not None:
                raise AssertionError(f"server exited {self.process.returncode}: {self.log.read_text()}")
            found = self.events("listening")
            return found[0] if found else None
        event = _wait(listening, timeout, "the listening event")
        self.port = event["port"]
        return event

    @property
    def worker_pids(self) -> dict[int, int]:
        return {e["worker"]: e["pid"] for e in self.events("ready")}

    def get(self, path: str = "/"):
        """One request on a new connection: (status, headers, body)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request("GET", path, headers={"Connection": "close"})
            response = connection.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            connection.close()

    def stop(self, timeout: float = 20.0) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def cleanup(self) -> None:
        """Whatever happened in the test, leave no process of this server behind."""
        pids = list(self.worker_pids.values())
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                pass
        for pid in pids:
            if not _gone(pid):
                os.kill(pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def start_server(tmp_path):
    """start_server(python, *args) -> a ServerProcess on a free port, stopped after the test."""
    started = []
    payload = tmp_path / "harness-payload.html"
    payload.write_bytes(payload_bytes(40))

    def start(python: str, *args: str, module: bool = False, ignore_sigint: bool = False) -> ServerProcess:
        target = ["-m", "bench.standalone.server"] if module else [str(SERVER)]
        argv = [python, *target, *harness_flags(file=payload), "--stats-interval", "0.1", *args]
        process = ServerProcess(argv, tmp_path / f"server-{len(started)}.log", ignore_sigint=ignore_sigint)
        started.append(process)
        return process

    yield start
    for process in started:
        process.cleanup()


def _pypy_venv() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "twisted-lab-tests" / "pypy-venv"


def _has_twisted(python: Path) -> bool:
    check = f"import twisted, sys; sys.exit(twisted.__version__ != {PYPY_TWISTED!r})"
    return python.exists() and subprocess.run([str(python), "-c", check], capture_output=True).returncode == 0


@pytest.fixture(scope="session")
def pypy_python() -> str:
    """Debian's PyPy 3.9 in a venv with Twisted 26.4.0, built once and cached."""
    pypy = shutil.which("pypy3")
    if pypy is None:
        pytest.skip("pypy3 is not installed (apt-get install pypy3 pypy3-venv)")
    venv = _pypy_venv()
    python = venv / "bin" / "python"
    if not _has_twisted(python):
        shutil.rmtree(venv, ignore_errors=True)
        for step in ([pypy, "-m", "venv", str(venv)],
                     [str(python), "-m", "pip", "install", "-q", f"twisted=={PYPY_TWISTED}"]):
            done = subprocess.run(step, capture_output=True, text=True, timeout=600)
            if done.returncode != 0:
                pytest.fail(f"`{' '.join(step)}` failed: {(done.stderr or done.stdout).strip()[-400:]}")
    return str(python)


@pytest.fixture(params=["cpython", "pypy"])
def python(request) -> str:
    return sys.executable if request.param == "cpython" else request.getfixturevalue("pypy_python")


def assert_stops_cleanly(running: ServerProcess, workers: int, sig: int = signal.SIGTERM) -> None:
    """On ``sig`` every worker reports its end, the master says stopped, exits 0, no pid remains."""
    pids = running.worker_pids
    assert len(pids) == workers
    running.process.send_signal(sig)
    assert running.process.wait(20) == 0
    events = running.events()
    assert {e["worker"] for e in events if e["event"] == "worker-exit"} == set(range(workers))
    assert not [e for e in events if e["event"] == "worker-died"]
    assert events[-1] == {"event": "stopped", "pid": running.process.pid}
    for pid in pids.values():
        assert _gone(pid), f"worker pid {pid} is still there"


@pytest.mark.parametrize("mode, workers", [("shared", 2), ("reuseport", 2), ("single", 1)])
@pytest.mark.parametrize("resource", ["fixed", "file"])
def test_serves_the_exact_payload(python, mode, workers, resource, start_server, tmp_path):
    size = 40 if resource == "fixed" else 10_000
    payload = tmp_path / "payload.html"
    payload.write_bytes(payload_bytes(size))
    running = start_server(python, "--mode", mode, "--workers", str(workers), "--resource", resource,
                           "--payload", str(size), "--file", str(payload))
    listening = running.wait_listening()
    assert (listening["mode"], listening["workers"]) == (mode, workers)
    assert sorted(running.worker_pids) == list(range(workers))
    for path in ("/", "/any/path?x=1"):
        status, headers, body = running.get(path)
        assert status == 200
        assert headers["content-length"] == str(size)
        assert headers["content-type"].startswith("text/html")
        assert body == payload_bytes(size)
    assert_stops_cleanly(running, workers)


@pytest.mark.parametrize("size", [1, 1_000_000])
def test_fixed_payload_edge_sizes(size, start_server):
    running = start_server(sys.executable, "--mode", "single", "--payload", str(size))
    running.wait_listening()
    status, headers, body = running.get()
    assert (status, headers["content-length"], body) == (200, str(size), payload_bytes(size))


def _hammer(running: ServerProcess, requests: int, threads: int = 8) -> None:
    """``requests`` GETs, each on a new connection, from ``threads`` clients at once."""
    failures = []

    def client(count):
        for _ in range(count):
            status, _, _ = running.get()
            if status != 200:
                failures.append(status)

    workers = [threading.Thread(target=client, args=(requests // threads,)) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    assert not failures


@pytest.mark.parametrize("mode", ["shared", "reuseport"])
def test_both_workers_serve_and_counts_add_up(mode, start_server):
    running = start_server(sys.executable, "--mode", mode, "--workers", "2")
    running.wait_listening()
    sent = 0
    while sent < 4000:
        _hammer(running, 200)
        sent += 200
        time.sleep(0.15)  # a stats interval and a bit
        counts = worker_counts(running.events())
        if len(counts) == 2 and min(counts.values()) > 0:
            break
    assert running.stop() == 0
    final = {e["worker"]: e["requests"] for e in running.events("worker-exit")}
    assert set(final) == {0, 1}
    assert min(final.values()) > 0, f"one worker served nothing after {sent} connections: {final}"
    assert sum(final.values()) == sent
    assert worker_counts(running.events()) == final


@pytest.mark.parametrize("mode", ["shared", "reuseport"])
def test_killed_worker_is_reported_and_the_others_serve_on(mode, start_server):
    running = start_server(sys.executable, "--mode", mode, "--workers", "2")
    running.wait_listening()
    victim = running.worker_pids[0]
    os.kill(victim, signal.SIGKILL)
    died = _wait(lambda: running.events("worker-died"), 10, "the worker-died event")
    assert died == [{"event": "worker-died", "worker": 0, "pid": victim, "status": "signal 9",
                     "exit_code": None, "signal": 9}]
    for _ in range(20):
        assert running.get()[0] == 200
    assert running.process.poll() is None
    assert running.stop() == 0
    assert running.events()[-1]["event"] == "stopped"
    assert _gone(running.worker_pids[1])


@pytest.mark.parametrize("mode, workers", [("shared", 2), ("single", 1)])
def test_sigint_stops_like_sigterm_even_when_started_ignoring_it(mode, workers, start_server):
    running = start_server(sys.executable, "--mode", mode, "--workers", str(workers), ignore_sigint=True)
    running.wait_listening()
    assert_stops_cleanly(running, workers, signal.SIGINT)


def test_a_ctrl_c_to_the_whole_group_stops_cleanly(start_server):
    running = start_server(sys.executable, "--mode", "reuseport", "--workers", "2")
    running.wait_listening()
    pids = running.worker_pids
    os.killpg(running.process.pid, signal.SIGINT)
    assert running.process.wait(20) == 0
    assert not running.events("worker-died")
    assert {e["worker"] for e in running.events("worker-exit")} == {0, 1}
    assert all(_gone(pid) for pid in pids.values())


def test_every_worker_dead_stops_the_master(start_server):
    running = start_server(sys.executable, "--mode", "shared", "--workers", "1")
    running.wait_listening()
    os.kill(running.worker_pids[0], signal.SIGKILL)
    assert running.process.wait(20) == 1
    assert "every worker died" in running.log.read_text()
    assert running.events()[-1]["event"] == "stopped"


def test_workers_stop_when_the_master_dies(start_server):
    running = start_server(sys.executable, "--mode", "reuseport", "--workers", "2")
    running.wait_listening()
    pids = running.worker_pids
    running.process.kill()
    running.process.wait(10)
    _wait(lambda: all(_gone(pid) for pid in pids.values()), 20, "the orphaned workers to exit")
    assert {e["worker"] for e in running.events("worker-exit")} == {0, 1}


@pytest.mark.parametrize("mode", ["shared", "reuseport", "single"])
def test_port_in_use_exits_2_with_one_line(mode):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        done = subprocess.run([sys.executable, str(SERVER), *harness_flags(mode=mode, port=port)],
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"server.py: port 127.0.0.1:{port} is in use: stop what holds it or pick another --port"]
    assert read_events(done.stdout) == []


@pytest.mark.parametrize("payload", ["0", str(MAX_PAYLOAD + 1)])
def test_bad_payload_exits_2(payload):
    done = subprocess.run([sys.executable, str(SERVER), *harness_flags(payload=payload)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "pick 1 to" in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize("log", [False, True])
def test_access_log_only_with_log(log, start_server):
    running = start_server(sys.executable, "--mode", "single", *(["--log"] if log else []))
    running.wait_listening()
    running.get("/seen-in-the-log")
    running.stop()
    assert ("GET /seen-in-the-log HTTP/1.1" in running.log.read_text()) is log
    assert worker_counts(running.events()) == {0: 1}


def test_runs_as_a_module_and_workers_find_the_file(start_server):
    running = start_server(sys.executable, "--mode", "shared", "--workers", "1", module=True)
    running.wait_listening()
    assert running.get()[0] == 200
    assert_stops_cleanly(running, 1)


def _cpus_allowed(pid: int) -> str:
    """The kernel's word on where ``pid`` may run, e.g. "0-1"."""
    with open(f"/proc/{pid}/status") as status:
        return next(line.split(":", 1)[1].strip() for line in status if line.startswith("Cpus_allowed_list:"))


def _needs(*cpus: int):
    return pytest.mark.skipif(not set(cpus) <= os.sched_getaffinity(0), reason=f"needs CPUs {cpus} (this machine: fewer)")


@pytest.mark.parametrize("mode, workers, cpus, master, each", [
    pytest.param("shared", 2, "0", "0", ["0", "0"], marks=_needs(0)),
    pytest.param("shared", 2, "0,1", "0-1", ["0", "1"], marks=_needs(0, 1)),
    pytest.param("reuseport", 3, "1,0", "0-1", ["0", "1", "0"], marks=_needs(0, 1)),
    pytest.param("single", 1, "1", "1", ["1"], marks=_needs(1)),
    pytest.param("shared", 2, None, None, None, id="no-cpus"),
])
def test_cpus_pins_each_worker_to_its_own(python, mode, workers, cpus, master, each, start_server):
    running = start_server(python, "--mode", mode, "--workers", str(workers), *(["--cpus", cpus] if cpus else []))
    running.wait_listening()
    pids = running.worker_pids
    own = _cpus_allowed(os.getpid())
    assert [_cpus_allowed(pids[i]) for i in range(workers)] == (each or [own] * workers)
    assert _cpus_allowed(running.process.pid) == (master or own)
    cpus_said = [e.get("cpu") for e in sorted(running.events("ready"), key=lambda e: e["worker"])]
    assert cpus_said == ([int(c) for c in each] if each else [None] * workers)
    assert running.get()[0] == 200
    assert_stops_cleanly(running, workers)
