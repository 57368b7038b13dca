"""The keys tune may set: their shape, direction, unsafe values and ceilings."""
import pytest

from bench.errors import BenchError
from bench.tune.keys import INTEREST, KEYS, RAISE, check_bounds, lowers, memory_ceiling, normalize, parse_value, raises


def test_every_key_of_interest_but_file_nr_may_be_set():
    assert set(INTEREST) - set(KEYS) == {"fs.file-nr"}


@pytest.mark.parametrize("key, current, wanted, lower, raise_", [
    ("net.core.somaxconn", "4096", "8192", False, True),
    ("net.core.somaxconn", "8192", "8192", False, False),
    ("net.ipv4.tcp_max_orphans", "131072", "8192", True, False),
    ("net.ipv4.ip_local_port_range", "32768 60999", "1024 65535", False, True),
    ("net.ipv4.ip_local_port_range", "1024 65535", "32768 60999", True, False),
    ("net.ipv4.ip_local_port_range", "1024 60999", "2000 65535", True, True),
    ("net.ipv4.tcp_rmem", "4096 131072 6291456", "4096 87380 16777216", True, True),
    ("net.ipv4.tcp_rmem", "4096 87380 6291456", "4096 87380 16777216", False, True),
    ("net.ipv4.tcp_fin_timeout", "60", "10", False, False),
    ("net.ipv4.tcp_congestion_control", "bbr", "cubic", False, False),
])
def test_raise_only_and_widen_only_keys(key, current, wanted, lower, raise_):
    assert lowers(KEYS[key], current, wanted) is lower
    assert raises(KEYS[key], current, wanted) is raise_


def test_a_snapshot_value_outside_a_profile_range_still_reads_back():
    """What a host had before tune (an admin's fin_timeout of 300) must restore as it was."""
    assert parse_value(KEYS["net.ipv4.tcp_fin_timeout"], "300", "snapshot") == "300"


def test_values_compare_as_the_kernel_prints_them():
    assert normalize("32768\t60999\n") == normalize("32768 60999") == "32768 60999"
    assert parse_value(KEYS["net.ipv4.tcp_mem"], " 1\t2  3 ", "p") == "1 2 3"


@pytest.mark.parametrize("key, value, message", [
    ("net.ipv4.tcp_syncookies", "0", "net.ipv4.tcp_syncookies = 0 is refused: it turns SYN cookies off, so a SYN "
                                     "flood fills the listen queue and real clients are refused; use 1 (on overflow) or 2"),
    ("net.ipv4.tcp_window_scaling", "0", "net.ipv4.tcp_window_scaling = 0 is refused: it caps every TCP window at "
                                         "64 KiB, so throughput falls with latency; keep 1"),
    ("net.ipv4.tcp_max_orphans", "9000000000000000000", "net.ipv4.tcp_max_orphans = 9000000000000000000 is above "
                                                        "its ceiling 2147483647 ("),
    ("net.core.rmem_default", str(2**31), "net.core.rmem_default = 2147483648 is above its ceiling 16777216 (every "
                                          "socket starts with this many bytes of buffer"),
    ("net.core.somaxconn", str(2**31), "is above its ceiling 2147483647 (a queue length the kernel keeps in an int)"),
    ("net.ipv4.tcp_rmem", f"4096 {32 * 2**20} {2**30}", "is above its ceiling 1048576 16777216 1073741824 (bytes a "
                                                        "TCP socket keeps even under memory pressure"),
    ("fs.nr_open", "2147483585", "fs.nr_open = 2147483585 is above its ceiling 2147483584 (the kernel's own maximum)"),
    ("fs.pipe-max-size", str(2**31 + 1), "is above its ceiling 2147483648"),
])
def test_unsafe_values_and_values_over_a_ceiling_are_one_line_each(key, value, message):
    with pytest.raises(BenchError) as error:
        check_bounds(KEYS[key], value, "sysconf/x/sysctl.conf:3")
    assert str(error.value).startswith("sysconf/x/sysctl.conf:3: ") and message in str(error.value)
    assert "\n" not in str(error.value) and str(error.value).endswith(("lower it", "or 2", "keep 1"))


@pytest.mark.parametrize("key, value", [
    ("net.ipv4.tcp_syncookies", "1"), ("net.ipv4.tcp_window_scaling", "1"), ("net.core.rmem_default", str(16 * 2**20)),
    ("net.ipv4.tcp_rmem", f"4096 131072 {2**30}"), ("fs.file-max", str(2**63 - 1)), ("net.ipv4.tcp_mem", " ".join([str(2**62)] * 3)),
])
def test_safe_values_up_to_the_ceiling_are_taken(key, value):
    check_bounds(KEYS[key], value, "p")


def test_every_raise_only_key_has_a_ceiling():
    assert [name for name, key in KEYS.items() if key.only == RAISE and key.ceiling is None] == []
    assert all(len(key.ceiling.most) == key.numbers for key in KEYS.values() if key.ceiling)


@pytest.mark.parametrize("key, page_size, most", [
    ("net.ipv4.tcp_mem", 4096, 262144),  # half of 2 GiB, in pages
    ("net.ipv4.tcp_mem", 65536, 16384),
    ("net.ipv4.tcp_max_orphans", 4096, 32768),  # 64 KiB each
    ("fs.pipe-max-size", 4096, 256 * 2**20),  # an eighth
    ("net.core.rmem_default", 4096, None),
])
def test_memory_ceilings_follow_the_hosts_ram(key, page_size, most):
    assert memory_ceiling(KEYS[key], 2 * 2**20, page_size) == most
