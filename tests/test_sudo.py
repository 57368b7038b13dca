"""bench.sudo: BENCH_SUDO_PASSWORD is read once and reaches no child process, seen by real spies on PATH."""
import os
import subprocess
import sys

from support import PROJECT, spied_environment

SECRET = "hunter2-not-for-children"


def test_the_sudo_password_reaches_no_child_the_harness_starts_here(tmp_path):
    python = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    env, log = spied_environment(tmp_path, ["git", python, "python3", "env"],
                                 {**os.environ, "BENCH_SUDO_PASSWORD": SECRET})
    script = (
        "import sys; from pathlib import Path\n"
        "from bench.hosts import LocalHost\n"
        "from bench.measure import environment\n"
        "from bench.setup import dependencies\n"
        "from bench.sudo import sudo_password\n"
        f"environment.git_commit(Path({str(PROJECT)!r}))\n"
        f"dependencies.matching_interpreter('CPython', {sys.version.split()[0]!r})\n"
        "host = LocalHost()\n"
        "host.run('env >/dev/null')\n"
        f"pid = host.start(['env'], log={str(tmp_path / 'started.log')!r})\n"
        "while host.alive(pid): pass\n"
        "print(sudo_password())\n"
    )
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=PROJECT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == SECRET  # the harness itself still has it
    spied = log.read_text()
    assert {f"spy {name}" for name in ("git", python, "env")} <= set(spied.splitlines())
    assert "BENCH_SUDO_PASSWORD" not in spied and SECRET not in spied
    assert SECRET not in (tmp_path / "started.log").read_text()
