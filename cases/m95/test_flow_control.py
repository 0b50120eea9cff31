"""Flow control of a long send against a server that stops reading, recommended process V2.0 / V1.1 §4.1 note 1,
with the public API (conformance.procedures.send_with_flow_control).

"The send buffer in the underlying socket is 7300 ... If the unacknowledged data length ... is less than 3000,
continue to send the next package by command AT+QISEND. Otherwise, stop sending data, and then query the data length
by AT+QISACK every 5 seconds until [it] is less than 3000. If the query time reaches a certain number (for example 20
times ...) ... close the TCP connection, re-establish it, and then continue to send all previously unacknowledged
data and the data packages that need to be sent."

The tcp_stall server accepts and does not read (a small receive buffer), so the module's unacknowledged count
climbs; the host must stop at 3000 and poll. Once with the server reading again after a while (the send completes,
byte-exact), once with a server that never does (broken after 20 polls, then the documented recovery).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conformance.procedures import FLOW_CONTROL, reopen, send_with_flow_control

BLOCKS = Path(__file__).parent / "blocks.yaml"
OPEN = """
  = configured
  = tcp_client_open peer=tcp_stall
"""
DATA = bytes(range(256)) * 100  # 25600 bytes, every byte value
THRESHOLD = 3000
RESUME_AFTER_S = 12.0  # the server reads again after the host has polled at least once above the threshold
SLACK_S = 10.0


def _resume(tcp_stall: Any) -> None:
    tcp_stall.perform("resume", [], deadline=time.monotonic() + 5, context={})


def _resume_later(tcp_stall: Any, seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, lambda: _resume(tcp_stall))
    timer.daemon = True
    timer.start()
    return timer


@pytest.mark.dialect("m95")
@pytest.mark.source("GSM TCP/IP Recommended Process V2.0 §4.1 flow control",
                    "GSM TCP/IP Recommended Process V1.1 §4.1 flow control")
def test_the_host_stops_at_3000_unacknowledged_and_goes_on_once_the_server_reads(
        modem: Any, tcp_stall: Any, record_property: Callable[[str, object], None]) -> None:
    modem.run(OPEN, context={"tcp_stall": tcp_stall}, blocks=BLOCKS)
    timer = _resume_later(tcp_stall, RESUME_AFTER_S)
    try:
        result = send_with_flow_control(modem, DATA)
    finally:
        timer.cancel()
    line = f"flow control, server reading again after {RESUME_AFTER_S:g} s: {result}"
    modem.link.note(line)
    record_property("result", str(result))
    print(line)
    assert result.completed, str(result)
    assert result.stalls, "the unacknowledged count reached 3000 while the server did not read"
    assert any(c.unacked >= THRESHOLD for c in result.checks), "the host stopped at 3000 unacknowledged"
    assert any(p.unacked >= THRESHOLD for p in result.polls), "and polled while the server did not read"
    assert result.max_unacked_at_send < THRESHOLD, "no packet went while 3000 or more were unacknowledged"
    modem.run(f"! tcp_stall received_count {len(DATA)}  [within 30s]", context={"tcp_stall": tcp_stall})
    assert tcp_stall.recorder.data() == DATA


@pytest.mark.dialect("m95")
@pytest.mark.source("GSM TCP/IP Recommended Process V2.0 §4.1 flow control",
                    "GSM TCP/IP Recommended Process V1.1 §4.1 flow control")
def test_a_server_that_never_reads_is_given_20_polls_then_the_connection_is_reopened_and_the_rest_resent(
        modem: Any, tcp_stall: Any, record_property: Callable[[str, object], None]) -> None:
    modem.run(OPEN, context={"tcp_stall": tcp_stall}, blocks=BLOCKS)
    result = send_with_flow_control(modem, DATA)
    line = f"flow control, server never reading: {result}"
    modem.link.note(line)
    record_property("result", str(result))
    print(line)
    assert not result.completed, str(result)
    stall = result.stalls[-1]
    assert len(stall.polls) == FLOW_CONTROL.max_polls
    assert all(p.unacked >= THRESHOLD for p in stall.polls)
    assert stall.polls[-1].t - stall.polls[0].t <= FLOW_CONTROL.bound_s - FLOW_CONTROL.first_wait_s + SLACK_S
    assert result.resend_from == result.handed_over - stall.last.unacked
    # the documents' recovery, once the server reads again: close, open again, resend from the first byte not known
    # to be acknowledged (the server may get some bytes twice: the old connection's were in its buffer)
    _resume(tcp_stall)
    assert reopen(modem, "TCP", tcp_stall.host, tcp_stall.port) == "CONNECT OK"
    rest = send_with_flow_control(modem, DATA[result.resend_from:])
    assert rest.completed, str(rest)
    expected = DATA[result.resend_from:]

    def second() -> bytes:
        return b"".join(a.data for a in tcp_stall.recorder.arrivals() if a.conn == 2)

    tcp_stall.wait_for(lambda: len(second()) >= len(expected), time.monotonic() + 30)
    assert second() == expected
