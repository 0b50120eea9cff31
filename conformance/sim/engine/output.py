"""The module's output to the host, in order, through one queue.

Everything the module says (echo, responses, URCs, received data) goes through :class:`Output`, so that pieces
delayed by the timing profile never overtake each other. With the instant profile a write goes straight to the port.
A write that opens a mode (the ``>`` prompt, ``CONNECT``) first collects the host's bytes that have already arrived, so
their arrival times are known to precede it (the CR LF rule of the interpreter depends on that).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ..loop import Loop, Timer
from .timing import TimingProfile

__all__ = ["Output", "Port"]


class Port(Protocol):
    """What the module needs of the serial side (a pty in the simulator, a fake in unit tests)."""

    def write(self, data: bytes) -> None: ...

    def pending_output(self) -> int: ...

    def set_input_paused(self, paused: bool) -> None: ...

    def discard_output(self) -> None: ...


@dataclass
class _Piece:
    data: bytes
    gap_s: float  # wait this long after the previous piece
    opens_mode: bool = False
    on_written: Callable[[int], None] | None = None  # called with the time it was written (monotonic ns)


class Output:
    """An ordered output queue over a :class:`Port`, cutting responses into pieces as the timing profile says."""

    def __init__(self, loop: Loop, port: Port, timing: TimingProfile) -> None:
        self._loop = loop
        self.port = port
        self.timing = timing
        self._queue: deque[_Piece] = deque()
        self._timer: Timer | None = None

    def write(self, data: bytes, *, chunk: bool = False, opens_mode: bool = False,
              on_written: Callable[[int], None] | None = None) -> None:
        """Queue ``data`` for the host; ``chunk``: it may be cut into pieces; ``on_written(t_ns)`` once it is out."""
        pieces = self.timing.pieces(data) if chunk and data else [(0.0, data)]
        for n, (gap, piece) in enumerate(pieces):
            last = n == len(pieces) - 1
            self._queue.append(_Piece(piece, gap, opens_mode and last, on_written if last else None))
        self._pump()

    def pending(self) -> int:
        """Bytes queued here or in the port, not yet taken by the host's side."""
        return sum(len(p.data) for p in self._queue) + self.port.pending_output()

    def idle(self) -> bool:
        return not self._queue

    def discard(self) -> None:
        """Drop everything not yet written (the module restarts)."""
        self._queue.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.port.discard_output()

    def _pump(self) -> None:
        while self._queue and self._timer is None:
            piece = self._queue[0]
            if piece.gap_s > 0:
                gap, piece.gap_s = piece.gap_s, 0.0
                self._timer = self._loop.call_later(gap, self._resume)
                return
            self._queue.popleft()
            if piece.opens_mode:
                drain = getattr(self.port, "drain_input", None)
                if drain is not None:
                    drain()  # bytes already here arrived before the mode opened
            if piece.data:
                self.port.write(piece.data)
            if piece.on_written is not None:
                piece.on_written(time.monotonic_ns())

    def _resume(self) -> None:
        self._timer = None
        self._pump()
