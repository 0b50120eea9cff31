"""How peers report what they received: byte-exact comparisons, escapes, argument errors."""

from __future__ import annotations

import threading
import time

import pytest

from conformance.errors import ActionFailed
from conformance.peers import Args, Recorder, describe_mismatch, show


def test_show_escapes_every_byte_and_cuts_long_data() -> None:
    assert show(b"OK\r\n\x00\xff") == repr(b"OK\r\n\x00\xff")
    long = bytes(range(256)) * 10
    text = show(long)
    assert "(2560 bytes)" in text and len(text) < 400


def test_mismatch_names_missing_extra_and_first_difference() -> None:
    assert "received nothing by the deadline" in describe_mismatch(b"test", b"")
    assert "received 3 by the deadline: b'tes'" in describe_mismatch(b"test", b"tes")
    assert "received 1 more: b'testX'" in describe_mismatch(b"test", b"testX")
    text = describe_mismatch(b"abcdef", b"abXdef")
    assert "first difference at byte 2" in text and "b'cdef'" in text and "b'Xdef'" in text


def test_recorder_wakes_a_waiter_with_the_arrival() -> None:
    cond = threading.Condition()
    recorder = Recorder(cond)
    threading.Timer(0.05, recorder.add, args=(b"late", ("10.0.0.1", 5))).start()
    with cond:
        assert cond.wait_for(lambda: recorder.size == 4, timeout=2)
    arrival = recorder.arrivals()[0]
    assert arrival.data == b"late" and arrival.source == ("10.0.0.1", 5)
    assert arrival.t_ns <= time.monotonic_ns()


def test_args_read_in_order_and_fail_with_the_usage() -> None:
    args = Args("tcp_talker send", "<bytes> [pieces <size>]", [b"x", "pieces", 3])
    assert args.data() == b"x" and args.word("option") == "pieces" and args.integer("size") == 3
    args.end()
    with pytest.raises(ActionFailed, match=r"tcp_talker send: missing bytes; usage: tcp_talker send <bytes>"):
        Args("tcp_talker send", "<bytes>", []).data()
    extra = Args("tcp_echo received", "<bytes>", [b"a", 7])
    extra.data()
    with pytest.raises(ActionFailed, match="unexpected argument 7"):
        extra.end()
    with pytest.raises(ActionFailed, match="must be a whole number"):
        Args("tcp_echo received_count", "<n>", ["many"]).integer("n")
