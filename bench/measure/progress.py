"""Where a run is inside a case: which case, which phase or round, and for how long.

A case can run for 40 s or more between two result lines. On a terminal a transient
status line (rich) ticks while it runs and the run's own lines print above it; into a
file or a CI log each phase change is one greppable line starting with "  · ", and a
phase that lasts long repeats a "still in" line every `heartbeat` seconds. Text from hosts
(reasons, log tails) shows its control characters as escapes.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass, replace

from rich.console import Console
from rich.live import Live
from rich.text import Text

from bench.terminal import printable

PREFIX = "  · "
HEARTBEAT = 30.0


@dataclass(frozen=True)
class _Where:
    """A snapshot of the position: replaced whole, so a reader on another thread sees one state."""

    title: str = ""
    number: int = 0
    total: int = 0
    case_start: float | None = None
    phase: str = ""
    round: int | None = None
    detail: str = ""
    phase_start: float | None = None

    @property
    def case_label(self) -> str:
        """'case 3/12 keep-alive 40B ×2': the title up to its colon (the servers follow it)."""
        return f"case {self.number}/{self.total} {self.title.split(':', 1)[0].strip()}"

    @property
    def phase_label(self) -> str:
        return self.phase if self.round is None else f"{self.phase} {self.round}"


class Progress:
    """Shows where a run is inside a case. Use as a context manager around the whole run."""

    def __init__(self, *, clock=time.monotonic):
        self._clock = clock
        self._where = _Where()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def case(self, title: str, number: int, total: int) -> None:
        """A case begins: e.g. title 'keep-alive 40B ×2: nginx, twisted/pypy/shared/fixed', number 3 of total 12 cases."""
        self._where = _Where(title=printable(title), number=number, total=total, case_start=self._clock())

    def phase(self, name: str, *, round: int | None = None, detail: str = "") -> None:
        """The case enters a phase: 'start' (servers starting and verified), 'warm-up', 'round' (with its 1-based number),
        'stop'. detail is a short free text, e.g. 'twisted/pypy ±7.2% (target ±5%)' or 'nginx'."""
        now = self._clock()
        where = self._where
        self._where = replace(
            where, phase=printable(name), round=round, detail=printable(detail), phase_start=now,
            case_start=now if where.case_start is None else where.case_start,
        )

    def say(self, line: str) -> None:
        """A line of the run's own output (e.g. a finished cell's result line): printed above any live display."""
        raise NotImplementedError


class PlainProgress(Progress):
    """A line per case and phase change, flushed at once, and a heartbeat line while a phase lasts."""

    def __init__(self, stream=None, *, heartbeat: float | None = HEARTBEAT, clock=time.monotonic):
        super().__init__(clock=clock)
        self._stream = sys.stdout if stream is None else stream
        self._heartbeat = heartbeat
        self._lock = threading.Lock()
        self._beat: tuple[threading.Thread, threading.Event] | None = None
        self._open = False

    def __enter__(self) -> PlainProgress:
        self._open = True
        return self

    def __exit__(self, *exc) -> None:
        self._open = False
        self._stop_beat()

    def case(self, title: str, number: int, total: int) -> None:
        self._stop_beat()
        super().case(title, number, total)
        self._write(f"{PREFIX}case {number}/{total} {self._where.title}")

    def phase(self, name: str, *, round: int | None = None, detail: str = "") -> None:
        self._stop_beat()  # before the new line, so a last heartbeat of the old phase prints above it
        super().phase(name, round=round, detail=detail)
        where = self._where
        line = f"{PREFIX}{where.case_label}: {where.phase_label} ({where.phase_start - where.case_start:.1f} s)"
        self._write(f"{line} {where.detail}" if where.detail else line)
        if self._open and self._heartbeat:
            stop = threading.Event()
            thread = threading.Thread(
                target=self._beats, args=(where, stop), name="progress-heartbeat", daemon=True)
            self._beat = (thread, stop)
            thread.start()

    def say(self, line: str) -> None:
        self._write(printable(line))

    def _write(self, line: str) -> None:
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()

    def _beats(self, where: _Where, stop: threading.Event) -> None:
        while not stop.wait(self._heartbeat):
            with self._lock:
                if stop.is_set():
                    return
                seconds = self._clock() - where.phase_start
                try:
                    self._stream.write(f"{PREFIX}{where.case_label}: still in {where.phase_label} ({seconds:.0f} s)\n")
                    self._stream.flush()
                except (OSError, ValueError):  # the stream is gone: the run will find out itself
                    return

    def _stop_beat(self) -> None:
        beat, self._beat = self._beat, None
        if beat is not None:
            thread, stop = beat
            stop.set()
            if thread is not threading.current_thread():
                thread.join()


class LiveProgress(Progress):
    """One transient status line (rich Live) that ticks a few times a second; say() prints above it."""

    def __init__(self, console: Console | None = None, *, clock=time.monotonic, refresh_per_second: float = 4):
        super().__init__(clock=clock)
        self.console = Console() if console is None else console
        # print() and warnings on the same terminal go above the line instead of through it
        to_stdout = self.console.file is sys.stdout
        self._live = Live(
            console=self.console, get_renderable=self._render, refresh_per_second=refresh_per_second,
            transient=True, redirect_stdout=to_stdout, redirect_stderr=to_stdout and _is_terminal(sys.stderr),
        )

    def __enter__(self) -> LiveProgress:
        self._live.start()
        return self

    def __exit__(self, *exc) -> None:
        refresher = getattr(self._live, "_refresh_thread", None)  # rich stops it but does not wait for it
        self._live.stop()
        if refresher is not None and refresher is not threading.current_thread():
            refresher.join()

    def case(self, title: str, number: int, total: int) -> None:
        super().case(title, number, total)
        self._refresh()

    def phase(self, name: str, *, round: int | None = None, detail: str = "") -> None:
        super().phase(name, round=round, detail=detail)
        self._refresh()

    def say(self, line: str) -> None:
        self.console.print(printable(line), markup=False, highlight=False, emoji=False, soft_wrap=True)

    def _refresh(self) -> None:
        """Show a change at once rather than at the next tick."""
        if self._live.is_started:
            self._live.refresh()

    def _render(self) -> Text:
        where = self._where
        if where.case_start is None:
            return Text("")
        now = self._clock()
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(where.case_label, style="bold")
        if where.phase:
            text.append(f" · {where.phase_label}")
        text.append(f" · {now - where.case_start:.1f} s in case")
        if where.phase:
            text.append(f" · {now - where.phase_start:.1f} s in {where.phase}")
        if where.detail:
            text.append(f" · {where.detail}", style="cyan")
        return text


def _is_terminal(stream) -> bool:
    try:
        terminal = stream.isatty()
    except (AttributeError, ValueError, OSError):  # no isatty, or closed
        return False
    return terminal and os.environ.get("TERM") not in ("dumb", "unknown")


def progress_for(stream=None, *, live: bool | None = None, heartbeat: float | None = HEARTBEAT,
                 clock=time.monotonic) -> Progress:
    """A live display (rich) when stream (default sys.stdout) is a terminal, else plain lines; `live` forces either."""
    stream = sys.stdout if stream is None else stream
    if live is None:
        live = _is_terminal(stream)
    if live:
        return LiveProgress(Console(file=stream, force_terminal=True), clock=clock)
    return PlainProgress(stream, heartbeat=heartbeat, clock=clock)
