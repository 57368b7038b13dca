"""Run names and addresses: checked in options.resolve, before they reach a path, a shell or nginx.conf."""
import pytest
from support import options

from bench.errors import BenchError
from bench.measure.names import check_run_name, is_address


@pytest.mark.parametrize("name", ["20261126-093000", "e2e-8080", "a", "A.b_c-1", "9" * 64])
def test_a_plain_name_is_a_run_name(name):
    assert check_run_name(name) == name
    assert options(name=name).name == name


@pytest.mark.parametrize("name", ["x;touch marker;true", "../../etc/x", "/tmp/abs", "..", ".hidden", "-rf",
                                  "_x", "a b", "a/b", "é", "x" * 65, "$(id)", "a\nb", ""])
def test_anything_else_is_refused_in_one_line(name):
    with pytest.raises(BenchError, match="bad run name") as caught:
        options(name=name)
    assert len(str(caught.value).splitlines()) == 1


@pytest.mark.parametrize("value, ok", [
    ("127.0.0.1", True), ("10.200.3.2", True), ("::1", True), ("fe80::1", True), ("localhost", True),
    ("lab-server.example.org", True), ("example.org.", True),
    ("127.0.0.1;touch marker", False), ("127.0.0.1 80", False), ("-h", False), ("a..b", False),
    ("$(id)", False), ("", False), ("x" * 64, False), ("[::1]", False), ("a_b", False),
])
def test_an_address_is_an_ip_or_a_hostname(value, ok):
    assert is_address(value) is ok


@pytest.mark.parametrize("flag, dashed", [("interface", "--interface"), ("server_address", "--server-address")])
def test_a_bad_interface_or_server_address_is_refused_before_anything_runs(flag, dashed):
    with pytest.raises(BenchError, match=f"{dashed} '127.0.0.1;touch marker' is not an IP address or a hostname"):
        options(**{flag: "127.0.0.1;touch marker"})
    assert getattr(options(**{flag: "10.0.0.2"}), flag) == "10.0.0.2"
