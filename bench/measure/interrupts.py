"""Ctrl-C, SIGTERM and SIGHUP end a run the same way: servers stopped by pid, measured cells kept.

A closed SSH session (SIGHUP) or a CI timeout (SIGTERM) would otherwise kill the harness
and leave its servers running; here each becomes a KeyboardInterrupt, which the runner
already turns into stopped servers and interrupted records.
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _interrupt(number, frame):
    raise KeyboardInterrupt(f"interrupted by {signal.Signals(number).name}")


@contextmanager
def as_interrupts():
    """Within the block, SIGTERM and SIGHUP raise KeyboardInterrupt as Ctrl-C does."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.signal(number, _interrupt) for number in SIGNALS[1:]}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@contextmanager
def deferred():
    """Hold Ctrl-C, SIGTERM and SIGHUP until the block is done, then raise: for starting and stopping servers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = []
    previous = {number: signal.signal(number, lambda number, frame: caught.append(number)) for number in SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    if caught:
        raise KeyboardInterrupt(f"interrupted by {signal.Signals(caught[0]).name}")
