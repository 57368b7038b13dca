"""The seed's loads need more open files than a default host allows: `inv bench` says so, naming
`inv tune`, before it starts anything (campaign.raise_nofile), run as a user would run it."""
import os
import subprocess

import pytest
from support import PROJECT, free_port

from bench.errors import BenchError
from bench.hosts import LocalHost
from bench.measure.campaign import counted, raise_nofile


def test_the_seed_concurrency_under_a_low_open_file_limit_stops_before_anything_starts(tmp_path):
    reports = tmp_path / "reports"
    # seed-wrk has the seed's concurrency (4000: 2 x 4000 + 1024 files) and needs no weighttp build.
    command = (f"ulimit -Sn 4096 && ulimit -Hn 4096 && exec inv bench --profile seed-wrk --loadgen wrk "
               f"--servers nginx --payloads 40 --keepalive --port {free_port()} --name limits")
    done = subprocess.run(["bash", "-c", command], cwd=PROJECT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "INVOKE_BENCH_REPORTS": str(reports)})
    assert done.returncode == 1, done.stdout + done.stderr
    said = (done.stdout + done.stderr).strip().splitlines()
    assert said[-1] == ("error: the open-file hard limit is 4096, the load needs 9024: run `inv tune` "
                        "(then log in again), or lower the concurrency"), said
    assert not (reports / "limits").exists()  # no run folder: nothing was started


class BannerHost(LocalHost):
    """A lab host whose shell start-up files print a greeting before every command (a real shell)."""

    def __init__(self):
        super().__init__()
        self.name, self.is_local = "root@banner:22", False

    def run(self, command, **kw):
        return super().run(f"echo 'Welcome to the lab'; {command}", **kw)


def test_a_host_that_prints_more_than_its_limit_is_one_line():
    with pytest.raises(BenchError) as caught:
        raise_nofile(BannerHost(), 9024)
    hard = subprocess.run(["sh", "-c", "ulimit -Hn"], capture_output=True, text=True).stdout.strip()
    assert str(caught.value) == (f"root@banner:22: `ulimit -Hn` printed 'Welcome to the lab\\n{hard}', not a whole "
                                 f"number: make the host's shell start-up files print nothing, and check that "
                                 f"`ulimit -Hn` works there")


@pytest.mark.parametrize("said, count", [("2", 2), ("64", 64), ("", None), ("2 cpus", None), ("-1", None),
                                         ("9" * 40, None), ("nproc: not found", None)])
def test_a_count_a_host_printed_is_a_whole_number_or_one_line(said, count):
    if count is not None:
        assert counted(LocalHost(), "nproc", said) == count
    else:
        with pytest.raises(BenchError, match=r"^local: `nproc` printed .*, not a whole number: make the host's shell"):
            counted(LocalHost(), "nproc", said)
