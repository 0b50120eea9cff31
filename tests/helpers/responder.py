"""A scripted responder on a real pty: the far end of a link in the project's own tests (not the simulator).

It answers command lines with scripted chunks, optionally split and delayed, echoes when told to, and records what it
received with arrival times. It knows nothing of AT beyond "a command line ends with CR".
"""

from __future__ import annotations

import os
import select
import threading
import time
import tty
from collections.abc import Callable

Chunk = bytes | float  # bytes to write, or seconds to wait before the next chunk


class Responder:
    """The module side of a pty pair. ``path`` is what a link opens."""

    def __init__(self, *, echo: bool = True, default: list[Chunk] | None = None) -> None:
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no CR/LF translation: bytes pass as they are
        tty.setraw(self.master)
        self.path = os.ttyname(self._slave)
        self.echo = echo
        self.default = default  # the answer to a command line no rule names (None: silence)
        self.rules: dict[bytes, list[Chunk] | Callable[[bytes], list[Chunk]]] = {}
        self.received = bytearray()
        self.received_times: list[tuple[int, int]] = []  # (offset, monotonic_ns)
        self.written_at: list[tuple[bytes, int]] = []  # (chunk, monotonic_ns just after os.write returned)
        self._line = bytearray()
        self._stop_r, self._stop_w = os.pipe()
        self._lock = threading.Condition()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="responder")
        self._thread.start()

    def on(self, command: bytes, *chunks: Chunk) -> None:
        """Answer the command line ``command`` (without CR) with ``chunks``."""
        self.rules[command] = list(chunks)

    def write(self, *chunks: Chunk) -> None:
        """Send ``chunks`` now, unprompted (a URC)."""
        for chunk in chunks:
            if isinstance(chunk, float):
                time.sleep(chunk)
            else:
                os.write(self.master, chunk)
                with self._lock:
                    self.written_at.append((chunk, time.monotonic_ns()))

    def forget_line(self) -> None:
        """Drop the partial line received so far (bytes a module took as data after its prompt)."""
        with self._lock:
            self._line.clear()

    def wait_received(self, count: int, timeout: float = 2.0) -> bytes:
        """Block until ``count`` bytes have been received (or ``timeout``); return what was received."""
        with self._lock:
            self._lock.wait_for(lambda: len(self.received) >= count, timeout)
            return bytes(self.received)

    def close(self) -> None:
        os.write(self._stop_w, b"x")
        self._thread.join(2)
        for fd in (self.master, self._slave, self._stop_r, self._stop_w):
            try:
                os.close(fd)
            except OSError:
                pass

    def _loop(self) -> None:
        while True:
            ready, _, _ = select.select([self.master, self._stop_r], [], [])
            if self._stop_r in ready:
                return
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            t = time.monotonic_ns()
            with self._lock:
                self.received_times.append((len(self.received), t))
                self.received += data
                self._lock.notify_all()
            for b in data:
                self._line.append(b)
                if b == 0x0D:
                    line = bytes(self._line[:-1])
                    self._line.clear()
                    if self.echo:
                        self.write(line + b"\r")
                    rule = self.rules.get(line, self.default)
                    if rule is not None:
                        self.write(*(rule(line) if callable(rule) else rule))
