"""Progress inside a case: a rich status line on a terminal, greppable lines and a heartbeat elsewhere."""
import io
import os
import re
import select
import threading
import time

import pytest
from rich.console import Console

from bench.measure.progress import LiveProgress, PlainProgress, progress_for

TITLE = "keep-alive 40B ×2: nginx, twisted/pypy/shared/fixed"
DETAIL = "twisted/pypy ±7.2% (target ±5%)"
CSI = re.compile(r"\x1b\[(\??)([0-9;]*)([A-Za-z])")


class Clock:
    def __init__(self, now=100.0):
        self.now = now

    def __call__(self):
        return self.now


def wait_for(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def heartbeats():
    return [thread for thread in threading.enumerate() if thread.name == "progress-heartbeat"]


def plain_text(output):
    return CSI.sub("", output)


def screen(output):
    """What a terminal shows after output: text, CR, LF, cursor up, erase line; colours and cursor visibility ignored."""
    lines, row, col, i = [""], 0, 0, 0
    while i < len(output):
        control = CSI.match(output, i)
        if control:
            private, args, op = control.groups()
            if op == "A":
                row = max(0, row - int(args or 1))
            elif op == "K" and args == "2":
                lines[row] = ""
            elif not (op == "m" or (private and args == "25")):
                raise AssertionError(f"unexpected control {control.group()!r}")
            i = control.end()
            continue
        char = output[i]
        i += 1
        if char == "\r":
            col = 0
        elif char == "\n":
            row, col = row + 1, 0
        else:
            line = lines[row].ljust(col)
            lines[row] = line[:col] + char + line[col + 1:]
            col += 1
        lines.extend("" for _ in range(row + 1 - len(lines)))
    lines = [line.rstrip() for line in lines]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def test_the_screen_helper_follows_cursor_moves():
    assert screen("one\ntwo\r\x1b[2K\x1b[1A\x1b[2Kthree\n") == ["three"]
    with pytest.raises(AssertionError):
        screen("\x1b[5B")


# plain lines


def test_plain_lines_carry_case_phase_round_elapsed_and_detail():
    out, clock = io.StringIO(), Clock(100.0)
    before = set(threading.enumerate())
    with PlainProgress(out, heartbeat=None, clock=clock) as progress:
        progress.case(TITLE, 3, 12)
        progress.phase("start")
        clock.now = 101.5
        progress.phase("warm-up", detail="nginx")
        clock.now = 123.1
        progress.phase("round", round=4, detail=DETAIL)
        clock.now = 130.0
        progress.phase("stop")
    assert out.getvalue().splitlines() == [
        "  · case 3/12 keep-alive 40B ×2: nginx, twisted/pypy/shared/fixed",
        "  · case 3/12 keep-alive 40B ×2: start (0.0 s)",
        "  · case 3/12 keep-alive 40B ×2: warm-up (1.5 s) nginx",
        "  · case 3/12 keep-alive 40B ×2: round 4 (23.1 s) twisted/pypy ±7.2% (target ±5%)",
        "  · case 3/12 keep-alive 40B ×2: stop (30.0 s)",
    ]
    assert set(threading.enumerate()) == before


def test_plain_elapsed_restarts_with_each_case():
    out, clock = io.StringIO(), Clock(0.0)
    with PlainProgress(out, heartbeat=None, clock=clock) as progress:
        progress.case("a: nginx", 1, 2)
        clock.now = 50.0
        progress.phase("round", round=1)
        progress.case("b", 2, 2)
        clock.now = 52.5
        progress.phase("round", round=1)
    assert out.getvalue().splitlines()[-3:] == [
        "  · case 1/2 a: round 1 (50.0 s)", "  · case 2/2 b", "  · case 2/2 b: round 1 (2.5 s)"]


class FlushCounter(io.StringIO):
    flushes = 0

    def flush(self):
        self.flushes += 1
        super().flush()


def test_plain_lines_are_flushed_at_once():
    out = FlushCounter()
    progress = PlainProgress(out, heartbeat=None, clock=Clock())
    with progress:
        progress.case(TITLE, 1, 1)
        assert out.flushes == 1
        progress.phase("start")
        assert out.flushes == 2
        progress.say("a result")
        assert out.flushes == 3


def test_plain_say_lines_keep_their_order_among_phase_lines():
    out = io.StringIO()
    with PlainProgress(out, heartbeat=None, clock=Clock()) as progress:
        progress.case(TITLE, 1, 1)
        progress.say("first [bold]result[/]")
        progress.phase("round", round=1)
        progress.say("second")
        progress.say("third")
    lines = out.getvalue().splitlines()
    assert lines[1:] == ["first [bold]result[/]", "  · case 1/1 keep-alive 40B ×2: round 1 (0.0 s)", "second", "third"]


def test_plain_heartbeat_repeats_a_long_phase_and_stops_on_exit():
    out, clock = io.StringIO(), Clock(0.0)
    before = set(threading.enumerate())
    with PlainProgress(out, heartbeat=0.05, clock=clock) as progress:
        progress.case(TITLE, 3, 12)
        progress.phase("round", round=4, detail=DETAIL)
        assert len(heartbeats()) == 1
        assert heartbeats()[0].daemon
        clock.now = 60.0
        wait_for(lambda: out.getvalue().count("still in") >= 3)
    after_exit = out.getvalue()
    time.sleep(0.3)  # six heartbeat periods
    assert out.getvalue() == after_exit
    assert heartbeats() == []
    assert set(threading.enumerate()) == before
    beats = [line for line in after_exit.splitlines() if "still in" in line]
    assert beats[0] == "  · case 3/12 keep-alive 40B ×2: still in round 4 (60 s)"
    assert after_exit.splitlines()[:2] == [
        "  · case 3/12 keep-alive 40B ×2: nginx, twisted/pypy/shared/fixed",
        "  · case 3/12 keep-alive 40B ×2: round 4 (0.0 s) twisted/pypy ±7.2% (target ±5%)",
    ]


def test_plain_heartbeat_follows_the_next_phase():
    out, clock = io.StringIO(), Clock(0.0)
    with PlainProgress(out, heartbeat=0.05, clock=clock) as progress:
        progress.case(TITLE, 1, 1)
        progress.phase("round", round=1)
        wait_for(lambda: "still in round 1" in out.getvalue())
        progress.phase("round", round=2)
        assert len(heartbeats()) == 1
        wait_for(lambda: "still in round 2" in out.getvalue())
    lines = out.getvalue().splitlines()
    switch = lines.index("  · case 1/1 keep-alive 40B ×2: round 2 (0.0 s)")
    assert not any("round 1" in line for line in lines[switch + 1:])
    assert not any("round 2" in line for line in lines[:switch])
    assert heartbeats() == []


def test_plain_heartbeat_only_inside_the_context():
    out = io.StringIO()
    progress = PlainProgress(out, heartbeat=0.01, clock=Clock())
    progress.case(TITLE, 1, 1)
    progress.phase("round", round=1)
    time.sleep(0.1)
    assert heartbeats() == []
    assert "still in" not in out.getvalue()


def test_plain_exit_on_an_exception_stops_the_heartbeat():
    out = io.StringIO()
    with pytest.raises(KeyboardInterrupt):
        with PlainProgress(out, heartbeat=0.02, clock=Clock()) as progress:
            progress.case(TITLE, 1, 1)
            progress.phase("round", round=1)
            wait_for(lambda: "still in" in out.getvalue())
            raise KeyboardInterrupt
    after_exit = out.getvalue()
    time.sleep(0.1)
    assert out.getvalue() == after_exit
    assert heartbeats() == []


# the live line


def live_console(width=200):
    out = io.StringIO()
    return out, Console(file=out, force_terminal=True, width=width, color_system="standard")


def test_live_line_ticks_say_prints_above_and_nothing_is_left():
    out, console = live_console()
    clock = Clock(100.0)
    before = set(threading.enumerate())
    with LiveProgress(console, clock=clock, refresh_per_second=20) as progress:
        progress.case(TITLE, 3, 12)
        clock.now = 117.1
        progress.phase("round", round=4, detail=DETAIL)
        clock.now = 123.1
        status = "case 3/12 keep-alive 40B ×2 · round 4 · 23.1 s in case · 6.0 s in round · " + DETAIL
        wait_for(lambda: status in plain_text(out.getvalue()))
        progress.say("nginx 123456 req/s [ok]")
        clock.now = 125.0
        wait_for(lambda: "25.0 s in case · 7.9 s in round" in plain_text(out.getvalue()))
        assert screen(out.getvalue()) == [
            "nginx 123456 req/s [ok]",
            status.replace("23.1", "25.0").replace("6.0", "7.9"),
        ]
    assert screen(out.getvalue()) == ["nginx 123456 req/s [ok]"]
    assert out.getvalue().endswith("\x1b[1A\x1b[2K")
    assert "\x1b[?25h" in out.getvalue()
    assert set(threading.enumerate()) == before


def test_live_line_shows_a_change_at_once():
    out, console = live_console()
    clock = Clock(0.0)
    with LiveProgress(console, clock=clock, refresh_per_second=0.1) as progress:
        progress.case(TITLE, 1, 2)
        assert screen(out.getvalue()) == ["case 1/2 keep-alive 40B ×2 · 0.0 s in case"]
        clock.now = 2.0
        progress.phase("warm-up", detail="nginx")
        assert screen(out.getvalue()) == [
            "case 1/2 keep-alive 40B ×2 · warm-up · 2.0 s in case · 0.0 s in warm-up · nginx"]


def test_live_line_stays_one_line_on_a_narrow_terminal():
    out, console = live_console(width=40)
    with LiveProgress(console, clock=Clock(), refresh_per_second=20) as progress:
        progress.case(TITLE, 3, 12)
        progress.phase("round", round=4, detail=DETAIL)
        shown = screen(out.getvalue())
        assert len(shown) == 1
        assert len(shown[0]) <= 40
        assert shown[0].endswith("…")


def test_live_exit_on_an_exception_restores_the_terminal():
    out, console = live_console()
    before = set(threading.enumerate())
    with pytest.raises(KeyboardInterrupt):
        with LiveProgress(console, clock=Clock(), refresh_per_second=20) as progress:
            progress.case(TITLE, 1, 1)
            progress.phase("round", round=1)
            assert "\x1b[?25l" in out.getvalue()  # cursor hidden while live
            raise KeyboardInterrupt
    assert not progress._live.is_started
    assert out.getvalue().rindex("\x1b[?25h") > out.getvalue().rindex("\x1b[?25l")
    assert screen(out.getvalue()) == []
    assert set(threading.enumerate()) == before
    console.print("after")
    assert screen(out.getvalue()) == ["after"]


# choosing


def read_available(fd):
    data = b""
    while select.select([fd], [], [], 0.2)[0]:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        data += chunk
    return data.decode()


@pytest.fixture
def pty_stream(monkeypatch):
    monkeypatch.setenv("TERM", "xterm-256color")
    master, slave = os.openpty()
    stream = open(slave, "w", encoding="utf-8")
    yield master, stream
    stream.close()
    os.close(master)


def test_progress_for_a_file_is_plain():
    out = io.StringIO()
    progress = progress_for(out, heartbeat=None)
    assert isinstance(progress, PlainProgress)
    with progress:
        progress.case(TITLE, 1, 1)
    assert out.getvalue() == "  · case 1/1 keep-alive 40B ×2: nginx, twisted/pypy/shared/fixed\n"


def test_progress_for_a_terminal_is_live(pty_stream):
    master, stream = pty_stream
    progress = progress_for(stream, clock=Clock())
    assert isinstance(progress, LiveProgress)
    with progress:
        progress.case(TITLE, 1, 1)
        progress.phase("round", round=1)
        progress.say("a result")
    stream.flush()
    shown = read_available(master)
    assert "round 1 · 0.0 s in case" in plain_text(shown)
    assert screen(shown) == ["a result"]


def test_progress_for_a_dumb_terminal_is_plain(pty_stream, monkeypatch):
    monkeypatch.setenv("TERM", "dumb")
    assert isinstance(progress_for(pty_stream[1]), PlainProgress)


def test_progress_for_forced(pty_stream):
    assert isinstance(progress_for(io.StringIO(), live=True), LiveProgress)
    assert isinstance(progress_for(pty_stream[1], live=False), PlainProgress)


def test_progress_for_defaults_to_stdout(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    progress = progress_for(heartbeat=None)
    assert isinstance(progress, PlainProgress)
    progress.say("to stdout")
    assert out.getvalue() == "to stdout\n"


# text from hosts: a reason or log tail may carry terminal escapes

HOSTILE = "server log: \x1b]0;owned\x07\x1b[2J\x1b[1Aok\r\x9b5n"


def test_plain_lines_print_control_characters_as_escapes():
    out = io.StringIO()
    with PlainProgress(out, heartbeat=None, clock=Clock()) as progress:
        progress.case(f"keep-alive 40B ×1: {HOSTILE}", 1, 1)
        progress.phase("round", round=1, detail=HOSTILE)
        progress.say(f"nginx 40B: FAILED — {HOSTILE}\n  tail\tline")
    text = out.getvalue()
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", text)
    assert "\\x1b]0;owned\\x07\\x1b[2J\\x1b[1Aok\\x0d\\x9b5n" in text and "\n  tail\tline\n" in text


def test_live_say_and_status_print_control_characters_as_escapes():
    out, console = live_console()
    with LiveProgress(console, clock=Clock(), refresh_per_second=20) as progress:
        progress.case(TITLE, 1, 1)
        progress.phase("round", round=1, detail=HOSTILE)
        progress.say(f"nginx 40B: FAILED — {HOSTILE}")
        wait_for(lambda: "owned" in plain_text(out.getvalue()))
        shown = screen(out.getvalue())  # raises on any control but the live line's own
    assert shown[0] == "nginx 40B: FAILED — server log: \\x1b]0;owned\\x07\\x1b[2J\\x1b[1Aok\\x0d\\x9b5n"
    assert "\x07" not in out.getvalue() and "\x9b" not in out.getvalue()
