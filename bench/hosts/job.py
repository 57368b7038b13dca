"""A command running on a host whose standard input the harness holds.

A job is told what to do by lines on its input, and closing its input is how it is
told to stop: so a job also stops by itself when the harness, or its SSH connection,
goes away (see ``bench.measure.together``, which keeps one per host for a case). Its
output is read as it comes, by one thread per stream, so no job blocks on a full pipe
while the harness waits on another.
"""
from __future__ import annotations

import threading
import time
from typing import Callable


class Job:
    """What a transport offers for one running command; ``LocalHost.begin`` and ``SSHHost.begin`` make them."""

    def __init__(self, host: str, command: str):
        self.host, self.command = host, command
        self._out, self._err = bytearray(), bytearray()
        self._changed = threading.Condition()
        self._open = 2  # output streams still being read

    def _read(self, read: Callable[[], bytes], buffer: bytearray) -> None:
        """Start a thread that appends what ``read`` returns to ``buffer`` until it returns b""."""
        def pump():
            try:
                while chunk := read():
                    with self._changed:
                        buffer.extend(chunk)
                        self._changed.notify_all()
            except OSError:
                pass
            finally:
                with self._changed:
                    self._open -= 1
                    self._changed.notify_all()

        threading.Thread(target=pump, name=f"job output {self.host}", daemon=True).start()

    @property
    def stdout(self) -> str:
        return self._out.decode(errors="replace")

    @property
    def stderr(self) -> str:
        return self._err.decode(errors="replace")

    @property
    def size(self) -> int:
        """Bytes of output so far: where the next output starts."""
        return len(self._out)

    def stdout_from(self, start: int) -> str:
        """The output from byte ``start`` on (decoding only that part)."""
        with self._changed:
            return bytes(self._out[start:]).decode(errors="replace")

    def wait_for_output(self, size: int, timeout: float) -> None:
        """Return once the output is longer than ``size`` bytes, or its streams ended, or ``timeout`` passed."""
        with self._changed:
            self._changed.wait_for(lambda: len(self._out) > size or not self._open, timeout)

    def wait_for(self, text: str, timeout: float) -> bool:
        """Whether ``text`` appeared on the job's output within ``timeout`` (False once its output ended without it)."""
        wanted = text.encode()
        with self._changed:
            self._changed.wait_for(lambda: wanted in self._out or not self._open, timeout)
            return wanted in self._out

    def wait(self, timeout: float | None) -> int | None:
        """Its exit status once it ended and its output is read, or None if it still runs after ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        status = self._exit_status(timeout)
        if status is None:
            return None
        with self._changed:  # the output threads end right after the command
            self._changed.wait_for(lambda: not self._open,
                                   None if deadline is None else max(deadline - time.monotonic(), 1.0))
        return status

    # -- what each transport provides ----------------------------------------
    def tell(self, line: str) -> None:
        """Write a line to the job's input."""
        raise NotImplementedError

    def close(self) -> None:
        """Close the job's input: a job waiting for a line, or watching its input, stops."""
        raise NotImplementedError

    def _exit_status(self, timeout: float | None) -> int | None:
        raise NotImplementedError

    def kill(self) -> None:
        """The last resort: end the job's process group now (or drop its channel)."""
        raise NotImplementedError
