"""bench.lab.namespaces and `inv lab.*`: real namespaces, bridges and sshd, up and down."""
import ipaddress
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from invoke import Config, Context, Exit

from bench import lab as namespace_lab
from bench.errors import BenchError
from bench.lab import namespaces, topology
from bench.tasks import lab as lab_tasks

REPO = Path(__file__).resolve().parents[2]


def _leftovers(lab):
    """What of ``lab`` still exists on this machine."""
    found = [ns for ns in (h.namespace for h in lab.hosts) if Path("/run/netns", ns).exists()]
    found += [dev for dev in [lab.bridge] + [h.veth for h in lab.hosts] if Path("/sys/class/net", dev).exists()]
    found += [f"pid {pid}" for pid in _processes_mentioning(str(lab.root))]
    found += [f"{addr}" for _, addr in topology.parse_networks(_ip("-o", "-4", "addr"))
              if addr == ipaddress.IPv4Network(lab.subnet)]
    return found


def _processes_mentioning(text):
    """Live (non-zombie) processes whose command line mentions ``text``."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if text.encode() in (proc / "cmdline").read_bytes() and namespaces._process_state(int(proc.name)) != "Z":
                pids.append(int(proc.name))
        except (OSError, ValueError):
            continue
    return pids


def _ip(*args):
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=True).stdout


@pytest.mark.lab
def test_up_then_down_leaves_nothing_behind(lab_machine, tmp_path):
    lab = namespace_lab.up(tmp_path, names=("server", "load", "db"))
    try:
        assert [state.accepting for state in namespace_lab.status(lab)] == [True, True, True]
        assert all(state.sshd_pid for state in namespace_lab.status(lab))
        assert namespace_lab.load(tmp_path) == lab
        db = namespace_lab.connect(lab.host("db"))
        # Something the lab's user left running inside: down stops it too.
        db.start(["sleep", "60"], str(tmp_path / "sleep.log"))
        db.close()
        assert len(_leftovers(lab)) > 5
    finally:
        namespace_lab.down(tmp_path)
    assert _leftovers(lab) == []
    assert not (tmp_path / "lab.json").exists()


HOLD = """
import time
def test_hold(lab):
    print("lab up at", lab.root, flush=True)
    time.sleep(120)
"""


@pytest.mark.lab
@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGHUP"])
def test_a_signal_to_the_tests_still_tears_their_lab_down(lab_machine, tmp_path, signal_name):
    """A CI timeout (SIGTERM) or a closed terminal (SIGHUP) mid-test: the lab fixture's teardown runs (conftest)."""
    (tmp_path / "test_hold.py").write_text(HOLD)
    (tmp_path / "conftest.py").write_text((REPO / "tests" / "conftest.py").read_text())
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}
    tests = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "test_hold.py",
                              f"--basetemp={tmp_path / 'base'}"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True)
    try:
        line = tests.stdout.readline()
        assert line.startswith("lab up at "), line
        lab = namespace_lab.load(line.split(" at ", 1)[1].strip())
        assert _leftovers(lab)
        tests.send_signal(getattr(signal, signal_name))
        said = tests.communicate(timeout=30)[0]
    finally:
        tests.kill()
    assert f"KeyboardInterrupt: signal {signal_name}" in said
    assert _leftovers(lab) == []


@pytest.mark.lab
def test_two_labs_at_once_do_not_collide(lab, lab_connect, tmp_path):
    other = namespace_lab.up(tmp_path)
    try:
        assert other.subnet != lab.subnet and other.bridge != lab.bridge
        assert not {h.namespace for h in other.hosts} & {h.namespace for h in lab.hosts}
        server = namespace_lab.connect(other.host("server"))
        assert server.run("ip -o -4 addr show dev eth0").stdout.split()[3] == f"{other.host('server').address}/24"
        server.close()
    finally:
        namespace_lab.down(other)
    assert _leftovers(other) == []
    assert lab_connect("server").run("true").ok  # the first lab lives on


@pytest.mark.lab
def test_down_is_idempotent(lab_machine, tmp_path):
    assert namespace_lab.down(tmp_path) is None  # no lab here at all
    lab = namespace_lab.up(tmp_path)
    assert namespace_lab.down(tmp_path) == lab
    assert namespace_lab.down(tmp_path) is None
    assert namespace_lab.down(lab) == lab  # from the object, when everything is gone already
    assert _leftovers(lab) == []


@pytest.mark.lab
def test_down_from_another_process_after_a_crash(lab_machine, tmp_path):
    # The process that brings the lab up dies without tearing anything down.
    subprocess.run([sys.executable, "-c", f"import os; from bench import lab; lab.up({str(tmp_path)!r}); os._exit(3)"],
                   check=False, cwd=Path(__file__).resolve().parents[2], timeout=30)
    lab = namespace_lab.load(tmp_path)
    assert lab is not None and all(state.accepting for state in namespace_lab.status(lab))
    os.kill(namespace_lab.status(lab)[0].sshd_pid, 9)  # and one sshd crashed too
    namespace_lab.down(tmp_path)
    assert _leftovers(lab) == []


@pytest.mark.lab
def test_failed_sshd_tears_the_lab_down_and_says_why(lab_machine, tmp_path):
    namespaces = set(_ip("netns", "list").split())
    with pytest.raises(BenchError, match=r"sshd for lab host server exited .*(Bad|port)"):
        namespace_lab.up(tmp_path, port=70000)
    assert set(_ip("netns", "list").split()) <= namespaces
    assert not (tmp_path / "lab.json").exists()


@pytest.mark.lab
def test_up_refuses_a_second_lab_in_one_root(lab):
    with pytest.raises(BenchError, match="inv lab.down"):
        namespace_lab.up(lab.root)


@pytest.mark.lab
def test_up_refuses_a_subnet_in_use(lab_machine, tmp_path):
    with pytest.raises(BenchError, match="overlaps 127.0.0.0/8"):
        namespace_lab.up(tmp_path, subnet="127.0.9.0/24")
    assert not (tmp_path / "lab.json").exists()


@pytest.mark.lab
def test_traffic_stays_inside(lab, lab_connect):
    server, load = lab.host("server"), lab.host("load")
    for host in (server, load):
        routes = _ip("-n", host.namespace, "-4", "route")
        assert "default" not in routes and routes.strip() != ""
        # A route lookup sends nothing, and shows nothing outside the subnet is reachable.
        lookup = subprocess.run(["ip", "-n", host.namespace, "route", "get", "192.0.2.2"], capture_output=True, text=True)
        assert lookup.returncode != 0 and "unreachable" in lookup.stderr
    # Lab hosts reach each other over the bridge.
    reach = lab_connect("load").run(f"timeout 2 bash -c '</dev/tcp/{server.address}/{server.port}' && echo open")
    assert reach.stdout.strip() == "open"


@pytest.mark.lab
def test_tasks_up_status_down(lab_machine, tmp_path, capsys):
    c = Context(Config(overrides={"lab": {"root": str(tmp_path)}}))
    lab_tasks.up(c)
    printed = capsys.readouterr().out
    lab = namespace_lab.load(tmp_path)
    assert lab is not None
    try:
        assert f"--server-host {lab.host('server').spec} --load-host {lab.host('load').spec}" in printed
        assert f"known_hosts  {tmp_path}/known_hosts" in printed
        lab_tasks.status(c)
        assert capsys.readouterr().out.count("netns up, sshd pid") == 2
        os.kill(namespace_lab.status(lab)[1].sshd_pid, 9)
        deadline = time.monotonic() + 5
        while namespace_lab.status(lab)[1].accepting and time.monotonic() < deadline:
            time.sleep(0.01)  # the kill lands asynchronously
        with pytest.raises(Exit, match="broken"):
            lab_tasks.status(c)
        assert "load     root@" in capsys.readouterr().out
    finally:
        lab_tasks.down(c)
    assert f"lab {lab.id} down in" in capsys.readouterr().out
    lab_tasks.status(c)
    assert "no lab in" in capsys.readouterr().out
    assert _leftovers(lab) == []


def _inv(*args):
    """Run ``inv ARGS`` from the repository, as a user does."""
    return subprocess.run([sys.executable, "-m", "invoke", *args], check=False, cwd=REPO, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=120)


@pytest.mark.lab
def test_inv_lab_up_with_two_load_hosts_then_down(lab_machine, tmp_path):
    root = tmp_path / "lab"
    up = _inv("lab.up", "--root", str(root), "--load-hosts", "2")
    lab = namespace_lab.load(root)
    try:
        assert up.returncode == 0 and lab is not None, up.stderr
        assert [host.name for host in lab.hosts] == ["server", "load1", "load2"]
        assert {host.namespace for host in lab.hosts} <= set(_ip("netns", "list").split())
        for host in lab.hosts:
            ssh = namespace_lab.connect(host)
            try:  # a real login, into that host's own namespace
                assert ssh.run("ip -o -4 addr show dev eth0").stdout.split()[3] == f"{host.address}/24"
            finally:
                ssh.close()
        server, load1, load2 = lab.hosts
        assert (f"  inv bench --server-host {server.spec} --load-host {load1.spec} --load-host {load2.spec}"
                f" --key {root}/id_ed25519 --known-hosts {root}/known_hosts") in up.stdout.splitlines()
    finally:
        down = _inv("lab.down", "--root", str(root))
    assert down.returncode == 0 and f"lab {lab.id} down in" in down.stdout, down.stderr
    assert not {host.namespace for host in lab.hosts} & set(_ip("netns", "list").split())
    links = {line.split(":")[1].strip().split("@")[0] for line in _ip("-o", "link").splitlines()}
    assert not links & {lab.bridge, *(host.veth for host in lab.hosts)}
    assert _leftovers(lab) == []


@pytest.mark.parametrize("args, message", [
    (["--load-hosts", "0"], "bad --load-hosts '0': give a whole number of load hosts from 1 to 32"),
    (["--load-hosts", "x"], "bad --load-hosts 'x': give a whole number of load hosts from 1 to 32"),
    (["--names", "server,load", "--load-hosts", "2"], "give --names or --load-hosts, not both"),
])
def test_inv_lab_up_refuses_a_bad_load_host_count_in_one_line_making_nothing(tmp_path, args, message):
    root = tmp_path / "lab"
    up = _inv("lab.up", "--root", str(root), *args)
    assert up.returncode == 1
    assert up.stderr.startswith(f"error: {message}") and up.stderr.count("\n") == 1, up.stderr
    assert up.stdout == ""  # refused before installing packages or starting anything
    # up() makes the root before it records or creates anything: no root, no lab (nor any
    # half of one). Other labs may come and go meanwhile, so `ip netns list` proves nothing here.
    assert not root.exists()


@pytest.mark.lab
def test_task_reports_a_bench_error_in_one_line(lab_machine, tmp_path):
    c = Context(Config(overrides={"lab": {"root": str(tmp_path)}}))
    with pytest.raises(Exit, match=r"^error: subnet 127.0.9.0/24 overlaps 127.0.0.0/8[^\n]*$"):
        lab_tasks.up(c, subnet="127.0.9.0/24")


@pytest.mark.parametrize("spoil", ["someone else's", "writable by others", "a symlink"])
def test_a_lab_root_that_is_not_ours_alone_is_refused(lab_machine, tmp_path, spoil):
    root = tmp_path / "root"
    if spoil == "a symlink":
        (tmp_path / "elsewhere").mkdir()
        root.symlink_to(tmp_path / "elsewhere")
        expected = "not a plain folder"
    else:
        root.mkdir()
        if spoil == "someone else's":
            os.chown(root, 65534, 65534)  # nobody, as if a stranger made /tmp/twisted-lab first
            expected = "belongs to nobody, not you"
        else:
            root.chmod(0o777)
            expected = "writable by others"
    with pytest.raises(BenchError, match=expected):
        namespace_lab.up(root)
    with pytest.raises(BenchError, match=expected):
        namespace_lab.load(root)  # `down` and `status` act on its lab.json only when it is ours
    assert not list(root.iterdir())


@pytest.mark.lab
def test_sshd_config_and_keys_are_written_through_fresh_files_not_planted_links(lab_machine, tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "server").mkdir(parents=True)
    outside.mkdir()
    planted = {root / "server" / "sshd_config": outside / "config", root / "authorized_keys": outside / "keys",
               root / "known_hosts": outside / "known"}
    for link, target in planted.items():
        target.write_text("untouched\n")
        link.symlink_to(target)
    lab = namespace_lab.up(root, names=("server",))
    try:
        assert all(target.read_text() == "untouched\n" for target in planted.values())
        assert not any(link.is_symlink() for link in planted)
        assert f"ListenAddress {lab.host('server').address}" in (root / "server" / "sshd_config").read_text()
        assert [state.accepting for state in namespace_lab.status(lab)] == [True]
        assert not list(root.rglob(".*"))  # no temporary file left behind
    finally:
        namespace_lab.down(root)


def test_task_up_installs_the_lab_packages_it_lacks(lab_machine, tmp_path, monkeypatch, capsys):
    # sshd looked for where there is none: the lab lacks openssh-server, which apt then "installs"
    # (it is already there, so apt-get does nothing, but it runs).
    monkeypatch.setattr(namespaces, "SSHD", str(tmp_path / "no-sshd"))
    assert namespace_lab.missing_packages() == ["openssh-server"]
    with pytest.raises(Exit) as stopped:
        lab_tasks.up(Context(Config(overrides={"lab": {"root": str(tmp_path / "lab")}})))
    assert "apt-get reported success but openssh-server is still missing" in str(stopped.value)
    assert "apt-get install openssh-server" in capsys.readouterr().out
    assert not (tmp_path / "lab").exists()
