"""bench.hosts.spec: ``user@host[:port]`` parsed, refused when bad, and printed back."""
import pytest

from bench.errors import BenchError
from bench.hosts import HostSpec


@pytest.mark.parametrize("text, spec", [
    ("web1", HostSpec("web1")),
    ("root@web1", HostSpec("web1", user="root")),
    ("bench@10.0.0.5:2222", HostSpec("10.0.0.5", user="bench", port=2222)),
    ("web1:22", HostSpec("web1", port=22)),
    ("[::1]:2200", HostSpec("::1", port=2200)),
    ("root@[fd00::2]", HostSpec("fd00::2", user="root")),
    ("fd00::2", HostSpec("fd00::2")),
    ("a@b@web1", HostSpec("web1", user="a@b")),
])
def test_host_spec_parse(text, spec):
    assert HostSpec.parse(text) == spec


@pytest.mark.parametrize("text, spec", [
    ("root@web1:2222", HostSpec("web1", "root", 2222)),
    ("web1", HostSpec("web1")),
])
def test_host_spec_str_parses_back(text, spec):
    assert str(spec) == text
    assert HostSpec.parse(str(spec)) == spec


@pytest.mark.parametrize("text, message", [
    ("", "bad host"),
    ("root@", "bad host"),
    ("root@:22", "bad host"),
    ("web1:ssh", "bad port"),
    ("web1:0", "bad port"),
    ("web1:65536", "bad port"),
])
def test_host_spec_parse_refuses(text, message):
    with pytest.raises(BenchError, match=message):
        HostSpec.parse(text)
