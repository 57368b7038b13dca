"""bench.lab and `inv lab.*`: planning, then real namespaces, bridges and sshd."""
import ipaddress
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from invoke import Config, Context, Exit

from bench.errors import BenchError
from bench.lab import namespaces as lab_module
from bench.tasks import lab as lab_tasks

# -- planning (pure) -----------------------------------------------------------

SUBNET = ipaddress.IPv4Network("10.210.7.0/24")


def test_plan_names_addresses_and_paths(tmp_path):
    lab = lab_module.plan(tmp_path, ("server", "load"), SUBNET, "a1b2c3", port=2222)
    assert (lab.bridge, lab.gateway) == ("tlaba1b2c3", "10.210.7.1")
    assert [(h.name, h.namespace, h.address, h.spec) for h in lab.hosts] == [
        ("server", "tlab-a1b2c3-server", "10.210.7.2", "root@10.210.7.2:2222"),
        ("load", "tlab-a1b2c3-load", "10.210.7.3", "root@10.210.7.3:2222"),
    ]
    # Linux caps interface names at 15 characters.
    assert all(len(name) <= 15 for name in [lab.bridge] + [h.veth for h in lab.hosts])
    assert len({h.veth for h in lab.hosts}) == 2
    server = lab.host("server")
    assert server.sshd_config == tmp_path / "server" / "sshd_config"
    assert (server.key, server.known_hosts) == (tmp_path / "id_ed25519", tmp_path / "known_hosts")


@pytest.mark.parametrize("names, message", [
    ((), "at least one"),
    (("server", "server"), "distinct"),
    (("Server",), "bad lab host name"),
    (("load gen",), "bad lab host name"),
])
def test_plan_refuses_bad_names(tmp_path, names, message):
    with pytest.raises(BenchError, match=message):
        lab_module.plan(tmp_path, names, SUBNET, "a1b2c3")


def test_plan_refuses_a_subnet_too_small(tmp_path):
    with pytest.raises(BenchError, match="too small"):
        lab_module.plan(tmp_path, ("server", "load"), ipaddress.IPv4Network("10.210.7.0/30"), "a1b2c3")


def test_lab_round_trips_through_json(tmp_path):
    lab = lab_module.plan(tmp_path, ("server", "load"), SUBNET, "a1b2c3")
    assert lab_module.Lab.from_json(lab.to_json()) == lab


def test_lab_host_lookup_names_the_hosts(tmp_path):
    lab = lab_module.plan(tmp_path, ("server", "load"), SUBNET, "a1b2c3")
    with pytest.raises(BenchError, match="server, load"):
        lab.host("db")


@pytest.mark.parametrize("used, start, expected", [
    ([], 0, "10.200.0.0/24"),
    ([], 257, "10.201.1.0/24"),
    (["10.200.0.0/24", "10.200.1.0/24"], 0, "10.200.2.0/24"),
    (["10.200.0.0/16"], 0, "10.201.0.0/24"),  # a wider network covers many candidates
    (["10.249.255.0/24"], 50 * 256 - 1, "10.200.0.0/24"),  # wraps around
    (["192.168.1.0/24", "10.0.0.0/8"], 3, None),  # everything taken
])
def test_free_subnet(used, start, expected):
    networks = [ipaddress.IPv4Network(net) for net in used]
    if expected is None:
        with pytest.raises(BenchError, match="no free"):
            lab_module.free_subnet(networks, start)
    else:
        assert str(lab_module.free_subnet(networks, start)) == expected


def test_parse_networks():
    output = (
        "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n"
        "4: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0\\       valid_lft forever\n"
        "9: tlabab12cd    inet 10.213.4.1/24 scope global tlabab12cd\\       valid_lft forever\n"
    )
    assert lab_module.parse_networks(output) == [
        ("lo", ipaddress.IPv4Network("127.0.0.0/8")),
        ("eth0", ipaddress.IPv4Network("192.0.2.0/24")),
        ("tlabab12cd", ipaddress.IPv4Network("10.213.4.0/24")),
    ]


def test_sshd_config_is_key_only_and_self_contained(tmp_path):
    lab = lab_module.plan(tmp_path, ("server",), SUBNET, "a1b2c3")
    lines = lab_module.sshd_config(lab.host("server"), lab.authorized_keys).splitlines()
    for line in ["ListenAddress 10.210.7.2:2222", f"HostKey {tmp_path}/server/ssh_host_ed25519_key",
                 f"PidFile {tmp_path}/server/sshd.pid", f"AuthorizedKeysFile {tmp_path}/authorized_keys",
                 "PermitRootLogin prohibit-password", "PasswordAuthentication no", "UsePAM no",
                 "StrictModes no", "Subsystem sftp internal-sftp"]:
        assert line in lines


@pytest.mark.parametrize("port, name", [(2222, "[10.210.7.2]:2222"), (22, "10.210.7.2")])
def test_known_hosts_line(tmp_path, port, name):
    host = lab_module.plan(tmp_path, ("server",), SUBNET, "a1b2c3", port=port).host("server")
    assert lab_module.known_hosts_line(host, "ssh-ed25519 AAAAC3Nz lab-key\n") == f"{name} ssh-ed25519 AAAAC3Nz\n"


def test_format_lab_gives_the_bench_flags(tmp_path):
    lab = lab_module.plan(tmp_path, ("server", "load"), SUBNET, "a1b2c3")
    text = "\n".join(lab_module.format_lab(lab))
    assert (f"inv bench --server-host root@10.210.7.2:2222 --load-host root@10.210.7.3:2222"
            f" --key {tmp_path}/id_ed25519 --known-hosts {tmp_path}/known_hosts") in text


def test_format_status(tmp_path):
    lab = lab_module.plan(tmp_path, ("server", "load"), SUBNET, "a1b2c3")
    states = [lab_module.HostState("server", True, 123, True), lab_module.HostState("load", False, None, False)]
    assert lab_module.format_status(lab, states)[1:] == [
        "  server   root@10.210.7.2:2222  netns up, sshd pid 123, accepting",
        "  load     root@10.210.7.3:2222  netns MISSING, sshd not running, NOT accepting",
    ]


# -- real labs -----------------------------------------------------------------

def _leftovers(lab):
    """What of ``lab`` still exists on this machine."""
    found = [ns for ns in (h.namespace for h in lab.hosts) if Path("/run/netns", ns).exists()]
    found += [dev for dev in [lab.bridge] + [h.veth for h in lab.hosts] if Path("/sys/class/net", dev).exists()]
    found += [f"pid {pid}" for pid in _processes_mentioning(str(lab.root))]
    found += [f"{addr}" for _, addr in lab_module.parse_networks(_ip("-o", "-4", "addr"))
              if addr == ipaddress.IPv4Network(lab.subnet)]
    return found


def _processes_mentioning(text):
    """Live (non-zombie) processes whose command line mentions ``text``."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if text.encode() in (proc / "cmdline").read_bytes() and lab_module._process_state(int(proc.name)) != "Z":
                pids.append(int(proc.name))
        except (OSError, ValueError):
            continue
    return pids


def _ip(*args):
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def requirements():
    problem = lab_module.missing_requirements()
    if problem:
        pytest.skip(problem)


@pytest.mark.lab
def test_up_then_down_leaves_nothing_behind(requirements, tmp_path):
    lab = lab_module.up(tmp_path, names=("server", "load", "db"))
    try:
        assert [state.accepting for state in lab_module.status(lab)] == [True, True, True]
        assert all(state.sshd_pid for state in lab_module.status(lab))
        assert lab_module.load(tmp_path) == lab
        db = lab_module.connect(lab.host("db"))
        # Something the lab's user left running inside: down stops it too.
        db.start(["sleep", "60"], str(tmp_path / "sleep.log"))
        db.close()
        assert len(_leftovers(lab)) > 5
    finally:
        lab_module.down(tmp_path)
    assert _leftovers(lab) == []
    assert not (tmp_path / "lab.json").exists()


@pytest.mark.lab
def test_two_labs_at_once_do_not_collide(lab, lab_connect, tmp_path):
    other = lab_module.up(tmp_path)
    try:
        assert other.subnet != lab.subnet and other.bridge != lab.bridge
        assert not {h.namespace for h in other.hosts} & {h.namespace for h in lab.hosts}
        server = lab_module.connect(other.host("server"))
        assert server.run("ip -o -4 addr show dev eth0").stdout.split()[3] == f"{other.host('server').address}/24"
        server.close()
    finally:
        lab_module.down(other)
    assert _leftovers(other) == []
    assert lab_connect("server").run("true").ok  # the first lab lives on


@pytest.mark.lab
def test_down_is_idempotent(requirements, tmp_path):
    assert lab_module.down(tmp_path) is None  # no lab here at all
    lab = lab_module.up(tmp_path)
    assert lab_module.down(tmp_path) == lab
    assert lab_module.down(tmp_path) is None
    assert lab_module.down(lab) == lab  # from the object, when everything is gone already
    assert _leftovers(lab) == []


@pytest.mark.lab
def test_down_from_another_process_after_a_crash(requirements, tmp_path):
    # The process that brings the lab up dies without tearing anything down.
    subprocess.run([sys.executable, "-c", f"import os; from bench.lab import namespaces as lab; lab.up({str(tmp_path)!r}); os._exit(3)"],
                   check=False, cwd=Path(__file__).resolve().parents[2], timeout=30)
    lab = lab_module.load(tmp_path)
    assert lab is not None and all(state.accepting for state in lab_module.status(lab))
    os.kill(lab_module.status(lab)[0].sshd_pid, 9)  # and one sshd crashed too
    lab_module.down(tmp_path)
    assert _leftovers(lab) == []


@pytest.mark.lab
def test_failed_sshd_tears_the_lab_down_and_says_why(requirements, tmp_path):
    namespaces = set(_ip("netns", "list").split())
    with pytest.raises(BenchError, match=r"sshd for lab host server exited .*(Bad|port)"):
        lab_module.up(tmp_path, port=70000)
    assert set(_ip("netns", "list").split()) <= namespaces
    assert not (tmp_path / "lab.json").exists()


@pytest.mark.lab
def test_up_refuses_a_second_lab_in_one_root(lab):
    with pytest.raises(BenchError, match="inv lab.down"):
        lab_module.up(lab.root)


@pytest.mark.lab
def test_up_refuses_a_subnet_in_use(requirements, tmp_path):
    with pytest.raises(BenchError, match="overlaps 127.0.0.0/8"):
        lab_module.up(tmp_path, subnet="127.0.9.0/24")
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
def test_tasks_up_status_down(requirements, tmp_path, capsys):
    c = Context(Config(overrides={"lab": {"root": str(tmp_path)}}))
    lab_tasks.up(c)
    printed = capsys.readouterr().out
    lab = lab_module.load(tmp_path)
    assert lab is not None
    try:
        assert f"--server-host {lab.host('server').spec} --load-host {lab.host('load').spec}" in printed
        assert f"known_hosts  {tmp_path}/known_hosts" in printed
        lab_tasks.status(c)
        assert capsys.readouterr().out.count("netns up, sshd pid") == 2
        os.kill(lab_module.status(lab)[1].sshd_pid, 9)
        deadline = time.monotonic() + 5
        while lab_module.status(lab)[1].accepting and time.monotonic() < deadline:
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


@pytest.mark.lab
def test_task_reports_a_bench_error_in_one_line(requirements, tmp_path):
    c = Context(Config(overrides={"lab": {"root": str(tmp_path)}}))
    with pytest.raises(Exit, match=r"^error: subnet 127.0.9.0/24 overlaps 127.0.0.0/8[^\n]*$"):
        lab_tasks.up(c, subnet="127.0.9.0/24")
