"""bench.lab.topology: the lab's names, addresses, files and lines, planned without root."""
import datetime
import ipaddress
import json
from pathlib import Path

import pytest

from bench.errors import BenchError
from bench.lab import topology

SUBNET = ipaddress.IPv4Network("10.210.7.0/24")


def test_layout_names_addresses_and_paths(tmp_path):
    lab = topology.layout(tmp_path, ("server", "load"), SUBNET, "a1b2c3", port=2222)
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
def test_layout_refuses_bad_names(tmp_path, names, message):
    with pytest.raises(BenchError, match=message):
        topology.layout(tmp_path, names, SUBNET, "a1b2c3")


def test_layout_refuses_a_subnet_too_small(tmp_path):
    with pytest.raises(BenchError, match="too small"):
        topology.layout(tmp_path, ("server", "load"), ipaddress.IPv4Network("10.210.7.0/30"), "a1b2c3")


def test_lab_round_trips_through_json(tmp_path):
    lab = topology.layout(tmp_path, ("server", "load"), SUBNET, "a1b2c3")
    assert topology.NamespaceLab.from_json(lab.to_json()) == lab


def test_lab_host_lookup_names_the_hosts(tmp_path):
    lab = topology.layout(tmp_path, ("server", "load"), SUBNET, "a1b2c3")
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
            topology.free_subnet(networks, start)
    else:
        assert str(topology.free_subnet(networks, start)) == expected


def test_parse_networks():
    output = (
        "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n"
        "4: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0\\       valid_lft forever\n"
        "9: tlabab12cd    inet 10.213.4.1/24 scope global tlabab12cd\\       valid_lft forever\n"
    )
    assert topology.parse_networks(output) == [
        ("lo", ipaddress.IPv4Network("127.0.0.0/8")),
        ("eth0", ipaddress.IPv4Network("192.0.2.0/24")),
        ("tlabab12cd", ipaddress.IPv4Network("10.213.4.0/24")),
    ]


def test_sshd_config_is_key_only_and_self_contained(tmp_path):
    lab = topology.layout(tmp_path, ("server",), SUBNET, "a1b2c3")
    lines = topology.sshd_config(lab.host("server"), lab.authorized_keys).splitlines()
    for line in ["ListenAddress 10.210.7.2:2222", f"HostKey {tmp_path}/server/ssh_host_ed25519_key",
                 f"PidFile {tmp_path}/server/sshd.pid", f"AuthorizedKeysFile {tmp_path}/authorized_keys .ssh/authorized_keys",
                 "PermitRootLogin prohibit-password", "PasswordAuthentication no", "UsePAM no",
                 "StrictModes no", "Subsystem sftp internal-sftp"]:
        assert line in lines


@pytest.mark.parametrize("port, name", [(2222, "[10.210.7.2]:2222"), (22, "10.210.7.2")])
def test_known_hosts_line(tmp_path, port, name):
    host = topology.layout(tmp_path, ("server",), SUBNET, "a1b2c3", port=port).host("server")
    assert topology.known_hosts_line(host, "ssh-ed25519 AAAAC3Nz lab-key\n") == f"{name} ssh-ed25519 AAAAC3Nz\n"


def test_format_lab_gives_the_bench_flags(tmp_path):
    lab = topology.layout(tmp_path, ("server", "load"), SUBNET, "a1b2c3")
    text = "\n".join(topology.format_lab(lab))
    assert (f"inv bench --server-host root@10.210.7.2:2222 --load-host root@10.210.7.3:2222"
            f" --key {tmp_path}/id_ed25519 --known-hosts {tmp_path}/known_hosts") in text


@pytest.mark.parametrize("names, load_hosts, expected", [
    (None, None, ("server", "load")),
    (None, "1", ("server", "load")),
    (None, 1, ("server", "load")),
    (None, "3", ("server", "load1", "load2", "load3")),
    ("server,load,db", None, ("server", "load", "db")),
])
def test_host_names(names, load_hosts, expected):
    assert topology.host_names(names, load_hosts) == expected


def test_host_names_go_up_to_32_load_hosts():
    assert topology.host_names(None, "32")[-1] == "load32"


@pytest.mark.parametrize("load_hosts", ["0", "33", "x", "-1", "1.5", "", " 2", "\u0662", 0])
def test_a_bad_load_host_count_is_one_line_that_says_what_to_give(load_hosts):
    with pytest.raises(BenchError, match=r"^bad --load-hosts .*: give a whole number of load hosts from 1 to 32$"):
        topology.host_names(None, load_hosts)


@pytest.mark.parametrize("load_hosts", ["1", "2"])
def test_names_and_load_hosts_together_are_refused(load_hosts):
    with pytest.raises(BenchError, match=r"^give --names or --load-hosts, not both: [^\n]*$"):
        topology.host_names("server,load", load_hosts)


def test_format_lab_repeats_load_host_once_per_load_host_in_numeric_order(tmp_path):
    names = ("server",) + tuple(f"load{n}" for n in (10, 2, 1)) + ("db",)
    lab = topology.layout(tmp_path, names, SUBNET, "a1b2c3")
    command = next(line for line in topology.format_lab(lab) if "inv bench" in line)
    assert command == (f"  inv bench --server-host root@10.210.7.2:2222 --load-host root@10.210.7.5:2222"
                       f" --load-host root@10.210.7.4:2222 --load-host root@10.210.7.3:2222"
                       f" --key {tmp_path}/id_ed25519 --known-hosts {tmp_path}/known_hosts")
    assert [host.name for host in topology.load_hosts(lab)] == ["load1", "load2", "load10"]


def test_format_lab_of_a_lab_from_load_hosts(tmp_path):
    lab = topology.layout(tmp_path, topology.host_names(None, "2"), SUBNET, "a1b2c3")
    assert ("inv bench --server-host root@10.210.7.2:2222 --load-host root@10.210.7.3:2222"
            " --load-host root@10.210.7.4:2222 --key") in "\n".join(topology.format_lab(lab))


@pytest.mark.parametrize("names", [("server", "db"), ("load1", "load2"), ("server", "loader", "load-2")])
def test_format_lab_without_a_server_and_a_load_host_gives_no_bench_command(tmp_path, names):
    lab = topology.layout(tmp_path, names, SUBNET, "a1b2c3")
    assert not any("inv bench" in line for line in topology.format_lab(lab))


def test_format_status(tmp_path):
    lab = topology.layout(tmp_path, ("server", "load"), SUBNET, "a1b2c3")
    statuses = [topology.LabHostStatus("server", True, 123, True), topology.LabHostStatus("load", False, None, False)]
    assert topology.format_status(lab, statuses)[1:] == [
        "  server   root@10.210.7.2:2222  netns up, sshd pid 123, accepting",
        "  load     root@10.210.7.3:2222  netns MISSING, sshd not running, NOT accepting",
    ]


def _with_user(tmp_path, created=True):
    lab = topology.layout(tmp_path, ("server", "load"), SUBNET, "a1b2c3")
    return lab.with_user(topology.LabUser("tlab", created, topology.sudoers_file("a1b2c3", "tlab"),
                                          "ssh-ed25519 AAAAC3Nz twisted-lab-a1b2c3",
                                          expires="2026-01-04" if created else None))


def test_a_lab_with_its_user_round_trips_through_json_without_a_password(tmp_path):
    lab = _with_user(tmp_path)
    assert topology.NamespaceLab.from_json(lab.to_json()) == lab
    assert set(json.loads(lab.to_json())["user"]) == {"name", "created", "sudoers", "key_line", "expires"}


def test_a_lab_json_from_before_user_expiry_still_loads(tmp_path):
    data = json.loads(_with_user(tmp_path).to_json())
    del data["user"]["expires"]
    assert topology.NamespaceLab.from_json(json.dumps(data)).user.expires is None


@pytest.mark.parametrize("days, expires", [(3, "2026-01-04"), ("1", "2026-01-02"), (365, "2027-01-01")])
def test_a_created_users_expiry_is_days_from_today(days, expires):
    assert topology.user_expiry(datetime.date(2026, 1, 1), days) == expires


@pytest.mark.parametrize("days", [0, 366, "-1", "3.5", "soon", ""])
def test_a_bad_user_expiry_is_one_line(days):
    with pytest.raises(BenchError, match=r"^bad --user-days .*: give a whole number of days from 1 to 365 "
                                         r"\(lab.user_days\)$"):
        topology.user_expiry(datetime.date(2026, 1, 1), days)


def test_the_sudoers_rule_asks_for_the_password_in_a_file_sudo_reads(tmp_path):
    path = topology.sudoers_file("a1b2c3", "tlab")
    assert path.parent == Path("/etc/sudoers.d") and "." not in path.name and not path.name.endswith("~")
    rule = topology.sudoers_rule("a1b2c3", "tlab")
    assert rule.splitlines()[-1] == "tlab ALL=(ALL:ALL) ALL"  # no NOPASSWD
    assert "full root on this machine" in rule.splitlines()[0]


def test_format_lab_gives_the_users_flags(tmp_path):
    text = "\n".join(topology.format_lab(_with_user(tmp_path)))
    assert "user         tlab (created by the lab, expires 2026-01-04; sudo asks for its password)" in text
    assert ("sudo         /etc/sudoers.d/twisted-lab-a1b2c3-tlab lets tlab run anything as root on this machine, "
            "not only in the lab") in text
    assert "inv setup --host tlab@10.210.7.2:2222 --host tlab@10.210.7.3:2222 --key" in text
    assert "inv bench --server-host tlab@10.210.7.2:2222 --load-host tlab@10.210.7.3:2222" in text
    assert "`inv lab.down` leaves it" in "\n".join(topology.format_lab(_with_user(tmp_path, created=False)))


@pytest.mark.parametrize("name", ["root", "Tlab", "1lab", "t lab", "t;id", "", "a" * 32])
def test_a_bad_user_name_is_refused(name):
    with pytest.raises(BenchError, match="bad lab user name"):
        topology.check_user_name(name)
