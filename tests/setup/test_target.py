"""One host being provisioned: what it does when a distribution package is missing."""
import pytest
from provision_fixtures import setup_config

from bench.errors import BenchError
from bench.hosts import LocalHost
from bench.setup.target import SetupTarget


def test_off_debian_a_missing_command_names_the_packages(tmp_path):
    settings = setup_config(tmp_path / "prefix", tmp_path / "cache")
    target = SetupTarget.open(LocalHost(), settings, False, print)
    target.debian = False
    assert target.ensure_packages(["wrk"], ["wrk"]) == {}
    with pytest.raises(BenchError, match=r"lacks twisted-lab-no-such-command: install it .*Debian calls it nginx-light"):
        target.ensure_packages(["nginx-light"], ["twisted-lab-no-such-command"])
