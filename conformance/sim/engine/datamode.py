"""Transparent access mode, host side: finding the escape sequence and packetizing the data stream.

Both work on the arrival times the simulator measured (``time.monotonic_ns()`` when ``read()`` returned), never on
sleeps: a deadline is checked against the next byte's arrival time first, and a loop timer covers the silence.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from conformance.dialects import EscapeRules

from .loop import Loop, Timer

__all__ = ["EscapeDetector", "Packetizer"]

_NS = 1_000_000_000


class EscapeDetector:
    """Separates the escape sequence from data, after the rules of the dialect (BG96: §1.2 item 4).

    The sequence counts only with ``guard_before_s`` of silence before its first byte, all of it within
    ``max_sequence_s``, and ``guard_after_s`` of silence after its last byte. Bytes held back while deciding are
    released as data, in order, as soon as the sequence is disproved.
    """

    def __init__(self, loop: Loop, rules: EscapeRules, on_data: Callable[[bytes], None],
                 on_escape: Callable[[], None]) -> None:
        self._loop = loop
        self._rules = rules
        self._on_data = on_data
        self._on_escape = on_escape
        self._guard_before_ns = int(rules.guard_before_s * _NS)
        self._guard_after_ns = int(rules.guard_after_s * _NS)
        self._max_sequence_ns = int(rules.max_sequence_s * _NS)
        self._last_rx_ns = 0
        self._held = 0  # how many bytes of the sequence are held back
        self._first_ns = 0  # arrival of the first held byte
        self._last_held_ns = 0  # arrival of the last held byte
        self._timer: Timer | None = None
        self._active = False

    def start(self, now_ns: int | None = None) -> None:
        """Begin watching; the guard before the first sequence counts from ``now_ns`` (data mode entry)."""
        self.stop()
        self._active = True
        self._last_rx_ns = time.monotonic_ns() if now_ns is None else now_ns

    def stop(self) -> bytes:
        """Stop watching; return the bytes still held back (they are data)."""
        held = self._rules.sequence[: self._held]
        self._held = 0
        self._active = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        return held

    @property
    def held(self) -> bytes:
        return self._rules.sequence[: self._held]

    def check(self, now_ns: int) -> bool:
        """Apply a deadline that passed before ``now_ns``; True if that was the escape."""
        if not self._active or self._held == 0 or now_ns < self._deadline_ns():
            return False
        if self._held == len(self._rules.sequence):
            self._held = 0
            self._active = False
            self._cancel_timer()
            self._on_escape()
            return True
        released = self._rules.sequence[: self._held]
        self._held = 0
        self._cancel_timer()
        self._on_data(released)
        return False

    def feed(self, data: bytes, t_ns: int) -> None:
        """Bytes that arrived at ``t_ns``; whatever is not held back goes to ``on_data``."""
        sequence = self._rules.sequence
        out = bytearray()
        for b in data:
            if 0 < self._held < len(sequence):
                if b == sequence[self._held] and t_ns - self._first_ns <= self._max_sequence_ns:
                    self._held += 1
                    self._last_held_ns = t_ns
                    self._last_rx_ns = t_ns
                    continue
                out += sequence[: self._held]
                self._held = 0
            elif self._held == len(sequence):
                out += sequence  # input within the guard after: the sequence was data
                self._held = 0
            if b == sequence[0] and t_ns - self._last_rx_ns >= self._guard_before_ns:
                self._held = 1
                self._first_ns = self._last_held_ns = t_ns
            else:
                out.append(b)
            self._last_rx_ns = t_ns
        if out:
            self._on_data(bytes(out))
        self._arm()

    def _deadline_ns(self) -> int:
        if self._held == len(self._rules.sequence):
            return self._last_held_ns + self._guard_after_ns
        return self._first_ns + self._max_sequence_ns + 1

    def _arm(self) -> None:
        self._cancel_timer()
        if self._active and self._held:
            self._timer = self._loop.call_at(self._deadline_ns(), lambda: self.check(time.monotonic_ns()))

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class Packetizer:
    """Gathers transparent-mode data into packets (BG96 §2.1.15 transpktsize / transwaittm).

    A packet leaves when ``packet_size()`` bytes are gathered, or ``wait_s()`` after the last byte came in.
    """

    def __init__(self, loop: Loop, send: Callable[[bytes], None], packet_size: Callable[[], int],
                 wait_s: Callable[[], float]) -> None:
        self._loop = loop
        self._send = send
        self._packet_size = packet_size
        self._wait_s = wait_s
        self._buffer = bytearray()
        self._timer: Timer | None = None

    def __len__(self) -> int:
        return len(self._buffer)

    def add(self, data: bytes) -> None:
        """Data from the host, in order."""
        self._buffer += data
        size = self._packet_size()
        while len(self._buffer) >= size:
            chunk = bytes(self._buffer[:size])
            del self._buffer[:size]
            self._send(chunk)
        self._cancel_timer()
        if self._buffer:
            wait = self._wait_s()
            if wait <= 0:
                self.flush()
            else:
                self._timer = self._loop.call_later(wait, self.flush)

    def flush(self) -> None:
        """Send what is gathered now."""
        self._cancel_timer()
        if self._buffer:
            chunk = bytes(self._buffer)
            self._buffer.clear()
            self._send(chunk)

    def discard(self) -> None:
        """Drop what is gathered (the connection is gone)."""
        self._cancel_timer()
        self._buffer.clear()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
