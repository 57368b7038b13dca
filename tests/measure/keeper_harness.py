"""A harness to be killed: it starts an Nginx and a Twisted server the way `inv bench` does (a Runner's
prepare, then Servers.start and wait_ready), prints their pids as one JSON line, and waits.

    python keeper_harness.py RUN_DIR PORT [user@host:port KEY KNOWN_HOSTS]

With a lab host, the servers run there over SSH; else on this machine.
"""
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: support
from support import environments, nginx_cell, settings, twisted_cell  # noqa: E402

from bench.hosts import LocalHost, connect  # noqa: E402
from bench.measure.loadgens.wrk import Wrk  # noqa: E402
from bench.measure.loading import Loader  # noqa: E402
from bench.measure.runner import Runner  # noqa: E402
from bench.measure.servers import Rig  # noqa: E402
from bench.records import CellRecord  # noqa: E402


def main(run_dir: str, port: str, *lab: str) -> None:
    if lab:
        spec, key, known_hosts = lab
        server = connect(spec, key_filename=key, known_hosts=known_hosts)
        address = server.spec.host
    else:
        server, address = LocalHost(), "127.0.0.1"
    local = LocalHost()
    rig = Rig(server=server, loaders=(Loader(local, Wrk(), "wrk"),), address=address,
              found={"twisted": environments(cpython=sys.executable), "nginx": "nginx"}, server_cpus=os.cpu_count())
    runner = Runner(rig, settings(Path(run_dir), port=int(port), interface=address, start_timeout=20), Path(run_dir))
    runner.prepare([40], ports=2)
    pids = []
    for index, cell in enumerate([nginx_cell(), twisted_cell()]):
        running = runner.servers.start(cell, int(port) + index, CellRecord(cell=cell))
        runner.servers.wait_ready(running)
        pids.append(running.pid)
    print(json.dumps({"pids": pids, "workdir": runner.workdir}), flush=True)
    time.sleep(120)


if __name__ == "__main__":
    main(*sys.argv[1:])
