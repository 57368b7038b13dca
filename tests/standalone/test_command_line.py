"""server.py's command line: bad flags exit 2 with one line, and the harness gives them all."""
import pytest
from standalone_support import harness_flags

from bench.standalone.command_line import parse_options
from bench.standalone.payload import MAX_PAYLOAD


@pytest.mark.parametrize("argv, message", [
    (["--payload", "0"], "--payload: payload of 0 bytes is out of range"),
    (["--payload", str(MAX_PAYLOAD + 1)], "pick 1 to 67108864 bytes"),
    (["--payload", "forty"], "invalid int value"),
    (["--resource", "file", "--file", "/nonexistent/payload.html"], "is not a readable file"),
    (["--mode", "single", "--workers", "2"], "--mode single serves from one process"),
    (["--workers", "0"], "--workers must be at least 1"),
    (["--port", "70000"], "--port 70000 is out of range"),
    (["--stats-interval", "0"], "--stats-interval must be more than 0"),
    (["--mode", "threads"], "invalid choice: 'threads'"),
    (["--cpus", "x"], "--cpus: bad CPU list 'x': write it as 0,2-3"),
    (["--cpus", "3-1"], "--cpus: bad CPU list '3-1': write it as 0,2-3"),
    (["--cpus", "0,4095"], "--cpus 0,4095: CPU 4095 is not available here (this host allows "),
])
def test_bad_arguments_exit_2_with_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as exited:
        parse_options([*harness_flags(), *argv])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("flag", ["port", "interface", "backlog", "mode", "workers", "resource", "payload", "file"])
def test_every_flag_the_harness_gives_is_required(flag, capsys):
    argv = harness_flags()
    at = argv.index(f"--{flag}")
    with pytest.raises(SystemExit) as exited:
        parse_options(argv[:at] + argv[at + 2:])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"the following arguments are required: --{flag}" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv, cpus", [([], ()), (["--cpus", "0"], (0,)), (["--cpus", "0,0-0"], (0,))])
def test_cpus_is_optional_and_parsed(argv, cpus):
    assert parse_options([*harness_flags(), *argv]).cpus == cpus
