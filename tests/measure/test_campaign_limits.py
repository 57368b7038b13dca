"""The seed's loads need more open files than a default host allows: `inv bench` says so, naming
`inv tune`, before it starts anything (campaign.raise_nofile), run as a user would run it."""
import os
import subprocess

from support import PROJECT, free_port


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
