"""The simulator's one event loop: a selector for every file descriptor, a heap of timers, nothing that sleeps.

Everything in a simulator process runs on this loop, in one thread: the pty, the control socket, the network
sockets, and every timer (guard times, connect timeouts, transparent-mode packetizing). An exception in a callback is
logged to stderr and the loop carries on: nothing a client does may stop the simulator.
"""

from __future__ import annotations

import heapq
import itertools
import selectors
import socket
import sys
import time
import traceback
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["Loop", "Timer", "log", "log_exception", "log_summary"]

Callback = Callable[[], Any]


MAX_LINE_CHARS = 4000  # a longer message is cut, saying how much was left out
MAX_KEYED_CHARS = 300  # ... and a message of a kind a host can repeat at will (a repr of garbage) sooner
KEY_BURST = 50  # lines of one kind shown per window before the rest are only counted
KEY_WINDOW_S = 1.0
MAX_LOG_BYTES = 32 << 20  # after this much, only the final summary is written


class _LogLimiter:
    """Keeps the log bounded: repeated events of one kind are counted and summarised, and the total has a cap.

    A fuzzer or a flooding host can make the same event happen thousands of times a second; the log says how many
    were left out instead of growing without bound.
    """

    def __init__(self) -> None:
        self.written = 0
        self.capped = 0  # lines not written because the total cap was reached
        self._shown: dict[str, int] = {}  # key -> lines shown in the current window
        self._hidden: dict[str, int] = {}  # key -> lines counted, not shown, in the current window
        self._window_start: dict[str, float] = {}
        self._loop: Loop | None = None

    def attach(self, loop: Loop) -> None:
        self._loop = loop

    def write(self, message: str, key: str | None) -> None:
        now = time.monotonic()
        if key is not None:
            start = self._window_start.get(key)
            if start is None or now - start >= KEY_WINDOW_S:
                self._close_window(key)
                self._window_start[key] = now
            shown = self._shown.get(key, 0)
            if shown >= KEY_BURST:
                hidden = self._hidden.get(key, 0)
                if hidden == 0:
                    self._emit(f"{key}: more than {KEY_BURST} in {KEY_WINDOW_S:g} s; the rest are counted, not shown")
                    if self._loop is not None:
                        self._loop.call_later(KEY_WINDOW_S, lambda: self._close_window(key))
                self._hidden[key] = hidden + 1
                return
            self._shown[key] = shown + 1
        limit = MAX_LINE_CHARS if key is None or key == "exception" else MAX_KEYED_CHARS
        if len(message) > limit:
            message = f"{message[:limit]}... ({len(message) - limit} more characters not shown)"
        self._emit(message)

    def summarise(self) -> None:
        """Write what is still only counted (the process is ending)."""
        for key in list(self._hidden):
            self._close_window(key)
        if self.capped:
            capped, self.capped = self.capped, 0
            self._emit(f"log size limit reached: {capped} lines not shown", force=True)

    def _close_window(self, key: str) -> None:
        hidden = self._hidden.pop(key, 0)
        self._shown.pop(key, None)
        self._window_start.pop(key, None)
        if hidden:
            self._emit(f"{key}: {hidden} more not shown")

    def _emit(self, message: str, *, force: bool = False) -> None:
        line = f"[sim {time.monotonic():.6f}] {message}\n"
        if self.written + len(line) > MAX_LOG_BYTES and not force:
            if self.capped == 0:
                sys.stderr.write(f"[sim {time.monotonic():.6f}] log size limit ({MAX_LOG_BYTES} bytes) reached; "
                                 "further lines are counted, not shown\n")
            self.capped += 1
            return
        self.written += len(line)
        sys.stderr.write(line)
        sys.stderr.flush()


_limiter = _LogLimiter()


def log(message: str, *, key: str | None = None) -> None:
    """One line to stderr, with a monotonic timestamp (the launcher sends stderr to the simulator's log file).

    ``key`` names the kind of event for events a host can repeat at will (an unknown command, a dropped packet):
    past a burst per second they are counted and summarised rather than written one by one.
    """
    _limiter.write(message, key)


def log_summary() -> None:
    """Write the counts of events not shown (call once when the process ends)."""
    _limiter.summarise()


def log_exception(context: str) -> None:
    """Log the exception being handled, with its traceback."""
    log(f"{context}: exception\n{traceback.format_exc()}", key="exception")


class Timer:
    """A callback due at a monotonic time (ns); ``cancel()`` makes it a no-op."""

    __slots__ = ("callback", "cancelled", "when_ns")

    def __init__(self, when_ns: int, callback: Callback) -> None:
        self.when_ns = when_ns
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class _Watch:
    __slots__ = ("fd", "mask", "on_read", "on_write")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.on_read: Callback | None = None
        self.on_write: Callback | None = None
        self.mask = 0


class Loop:
    """Selector + timers + call-soon queue. ``run()`` returns after ``stop()``."""

    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()
        self._timers: list[tuple[int, int, Timer]] = []
        self._sequence = itertools.count()
        self._soon: deque[Callback] = deque()
        self._watches: dict[int, _Watch] = {}
        self._stopping = False
        self.after_dispatch: list[Callback] = []  # run after every loop iteration (interest recomputation)
        _limiter.attach(self)

    # -- scheduling ---------------------------------------------------------------------------------------------

    def call_soon(self, callback: Callback) -> None:
        """Run ``callback`` on the next loop iteration (after the current event has been handled)."""
        self._soon.append(callback)

    def call_later(self, seconds: float, callback: Callback) -> Timer:
        """Run ``callback`` once ``seconds`` from now."""
        return self.call_at(time.monotonic_ns() + max(0, int(seconds * 1e9)), callback)

    def call_at(self, when_ns: int, callback: Callback) -> Timer:
        """Run ``callback`` once at monotonic time ``when_ns``."""
        timer = Timer(when_ns, callback)
        heapq.heappush(self._timers, (when_ns, next(self._sequence), timer))
        return timer

    # -- file descriptors ---------------------------------------------------------------------------------------

    def watch(self, fileobj: int | socket.socket | Any, *, on_read: Callback | None = None,
              on_write: Callback | None = None) -> None:
        """Set the read and write callbacks of a file descriptor; None clears one; both None unregisters it."""
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        if fd < 0:
            return
        w = self._watches.get(fd)
        if w is None:
            if on_read is None and on_write is None:
                return
            w = self._watches[fd] = _Watch(fd)
        w.on_read, w.on_write = on_read, on_write
        mask = (selectors.EVENT_READ if on_read else 0) | (selectors.EVENT_WRITE if on_write else 0)
        if mask == w.mask:
            return
        if w.mask == 0:
            self.selector.register(fd, mask)
        elif mask == 0:
            self.selector.unregister(fd)
        else:
            self.selector.modify(fd, mask)
        w.mask = mask
        if mask == 0:
            del self._watches[fd]

    def unwatch(self, fileobj: int | socket.socket | Any) -> None:
        """Forget a file descriptor (call before closing it)."""
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        w = self._watches.pop(fd, None)
        if w is not None and w.mask:
            try:
                self.selector.unregister(fd)
            except (KeyError, ValueError, OSError):
                pass

    # -- running ------------------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Make ``run()`` return after the current iteration."""
        self._stopping = True

    def run(self) -> None:
        """Dispatch I/O, then due timers, then call-soon callbacks, until ``stop()``."""
        while not self._stopping:
            try:
                events = self.selector.select(self._timeout())
            except InterruptedError:
                events = []
            for key, mask in events:
                self._dispatch(key.fd, mask)
            self._run_timers()
            self._run_soon()
            for hook in self.after_dispatch:
                self._guarded(hook, "after-dispatch hook")

    def _timeout(self) -> float | None:
        if self._soon:
            return 0
        while self._timers and self._timers[0][2].cancelled:
            heapq.heappop(self._timers)
        if not self._timers:
            return None
        return max(0.0, (self._timers[0][0] - time.monotonic_ns()) / 1e9)

    def _dispatch(self, fd: int, mask: int) -> None:
        # Look the callbacks up again before each call: the read callback may have changed or removed the write one.
        w = self._watches.get(fd)
        if w is not None and mask & selectors.EVENT_READ and w.on_read is not None:
            self._guarded(w.on_read, f"read callback fd {fd}")
        w = self._watches.get(fd)
        if w is not None and mask & selectors.EVENT_WRITE and w.on_write is not None:
            self._guarded(w.on_write, f"write callback fd {fd}")

    def _run_timers(self) -> None:
        now = time.monotonic_ns()
        while self._timers and self._timers[0][0] <= now:
            _, _, timer = heapq.heappop(self._timers)
            if not timer.cancelled:
                timer.cancelled = True  # fired: a later cancel() is harmless
                self._guarded(timer.callback, "timer")

    def _run_soon(self) -> None:
        for _ in range(len(self._soon)):
            self._guarded(self._soon.popleft(), "call_soon")

    @staticmethod
    def _guarded(callback: Callback, context: str) -> None:
        try:
            callback()
        except Exception:
            log_exception(context)
