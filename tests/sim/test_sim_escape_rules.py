"""The escape detector and the packetizer with synthetic arrival times: the whole timing matrix, without waiting.

The pty tests in test_sim_transparent.py show the same rules with real time; here every case is exact.
"""

from __future__ import annotations

import pytest

from conformance.dialects import get
from conformance.sim.datamode import EscapeDetector, Packetizer
from conformance.sim.loop import Loop

S = 1_000_000_000  # ns per second
RULES = get("bg96").escape


class Recorder:
    def __init__(self) -> None:
        self.loop = Loop()
        self.data = bytearray()
        self.escaped = False
        self.detector = EscapeDetector(self.loop, RULES, self.data.extend, self._escape)
        self.detector.start(0)

    def _escape(self) -> None:
        self.escaped = True

    def feed(self, at_s: float, data: bytes) -> bool:
        """Bytes arriving at ``at_s``; True if a deadline before them was the escape."""
        t = int(at_s * S)
        if self.detector.check(t):
            return True
        self.detector.feed(data, t)
        return False


@pytest.mark.parametrize("times, escapes", [
    ((1.0, 1.0, 1.0), True),  # exactly the guard before, all at once
    ((1.5, 1.7, 2.4), True),  # spread, but within 1 s
    ((0.999, 0.999, 0.999), False),  # guard before too short
    ((1.5, 1.7, 2.6), False),  # three '+' over more than 1 s
])
def test_guard_before_and_sequence_time(times, escapes):
    r = Recorder()
    for t in times:
        r.feed(t, b"+")
    last = times[-1]
    r.detector.check(int((last + 0.999) * S))
    assert not r.escaped  # never before the guard after
    r.detector.check(int((last + 1.0) * S))
    assert r.escaped is escapes
    assert bytes(r.data) == (b"" if escapes else b"+++")


def test_input_within_the_guard_after_makes_it_data():
    r = Recorder()
    r.feed(0.0, b"abc")
    r.feed(1.2, b"+++")
    assert not r.feed(2.1, b"x")  # 0.9 s after: too early
    assert bytes(r.data) == b"abc+++x" and not r.escaped


def test_a_byte_after_the_guard_after_comes_after_the_escape():
    r = Recorder()
    r.feed(1.2, b"+++")
    assert r.feed(2.3, b"AT\r")  # the deadline passed before these bytes: escape first, they are a command
    assert r.escaped and bytes(r.data) == b""


def test_sequence_inside_data_and_partial_sequences():
    r = Recorder()
    r.feed(5.0, b"ab+++cd")
    assert bytes(r.data) == b"ab+++cd"
    r.feed(7.0, b"++")
    assert bytes(r.data) == b"ab+++cd"  # held back while deciding
    r.detector.check(int(8.1 * S))  # the third '+' never came within 1 s
    assert bytes(r.data) == b"ab+++cd++"
    r.feed(8.2, b"+y")  # a '+' right after data never starts a sequence
    assert bytes(r.data) == b"ab+++cd+++y"
    r.feed(9.3, b"+")
    r.feed(9.4, b"z")  # not the sequence's next byte: released in order
    assert bytes(r.data) == b"ab+++cd+++y+z" and not r.escaped


def test_stop_returns_held_bytes():
    r = Recorder()
    r.feed(1.5, b"++")
    assert r.detector.stop() == b"++"


def test_packetizer_sizes_and_flush():
    sent: list[bytes] = []
    p = Packetizer(Loop(), sent.append, lambda: 4, lambda: 0.2)
    p.add(b"0123456789")
    assert sent == [b"0123", b"4567"] and len(p) == 2  # the rest waits for transwaittm
    p.flush()
    assert sent[-1] == b"89"
    p0 = Packetizer(Loop(), sent.append, lambda: 1024, lambda: 0)
    p0.add(b"now")  # transwaittm 0: at once
    assert sent[-1] == b"now"
