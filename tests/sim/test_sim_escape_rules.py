"""The escape detector and the packetizer with synthetic arrival times: the whole timing matrix, without waiting.

The pty tests in test_sim_transparent.py show the same rules with real time; here every case is exact.
"""

from __future__ import annotations

import time

import pytest
from helpers.fake_port import FakePort

from conformance.dialects import EscapeRules, get
from conformance.sim.bg96 import Bg96Module
from conformance.sim.engine import EscapeDetector, Packetizer, Service
from conformance.sim.engine.sockets import CONNECTED
from conformance.sim.engine.timing import ESCAPE_REACTION_S
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

    def _escape(self, last_ns: int) -> None:
        self.escaped = True
        self.last_ns = last_ns

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


def test_ok_never_leaves_before_the_guard_after_plus_the_modules_reaction():
    # The host times the guard from when its write of "+++" returned, which can be a little after the bytes reached
    # the module; the module's OK therefore leaves guard + reaction after the last '+' arrived, never sooner.
    loop, port = Loop(), FakePort()
    module = Bg96Module(loop, port, get("bg96"), {"dns_servers": ["127.0.0.1"], "timing": "instant"})
    svc = Service(0, 0, 1, "TCP", 2, server_id=0, state=CONNECTED)  # no kernel socket: the data goes nowhere
    module.sockets.add(svc)
    module.data_mode.enter(svc)
    now = time.monotonic_ns()
    module.data_mode.escape.start(now - 5 * S)  # data mode began 5 s ago, silent since
    last = now - int(RULES.guard_after_s * S)  # "+++" arrived exactly one guard time ago
    module.on_host_input(b"+++", last)
    assert module.data_mode.escape.check(time.monotonic_ns())  # the guard after has passed: it is the escape
    assert module.mode.value == "command"
    assert not any(b"OK" in data for _, data in port.stamped)  # ... but the OK is not out yet
    deadline = time.monotonic() + 2
    while not any(b"OK" in data for _, data in port.stamped):
        assert time.monotonic() < deadline
        loop._run_timers()
        time.sleep(0.001)
    written = next(t for t, data in port.stamped if b"OK" in data)
    assert written - last >= int((RULES.guard_after_s + ESCAPE_REACTION_S) * S)
    module.shutdown()


def test_a_gap_rule_between_the_sequence_bytes():
    # GSM TCP/IP Application Note §4: each '+' less than 20 ms after the one before (a rule BG96 does not have)
    rules = EscapeRules(sequence=b"+++", guard_before_s=0.5, guard_after_s=0.5, max_sequence_s=1.0,
                        source="GSM TCP/IP Application Note §4", max_gap_s=0.02)

    def run(times: tuple[float, ...]) -> tuple[bool, bytes]:
        loop, data, escaped = Loop(), bytearray(), []
        detector = EscapeDetector(loop, rules, data.extend, escaped.append)
        detector.start(0)
        for t in times:
            detector.check(int(t * S))
            detector.feed(b"+", int(t * S))
        detector.check(int((times[-1] + 0.6) * S))
        return bool(escaped), bytes(data)

    assert run((1.0, 1.01, 1.019)) == (True, b"")
    assert run((1.0, 1.01, 1.035)) == (False, b"+++")  # 25 ms between the last two: data
