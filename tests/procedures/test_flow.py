"""Flow control of a long send (recommended process §4.1 note 1) on a scripted module and a fake clock. Against the
simulated module and a server that stops reading: cases/m95/test_flow_control.py."""

from __future__ import annotations

from itertools import pairwise

import pytest
from scripted import FakeClock, ScriptedM95

from conformance.procedures import FLOW_CONTROL, send_with_flow_control

DATA = bytes(range(256)) * 40  # 10240 bytes


def test_a_server_that_keeps_up_gets_everything_in_1460_byte_packets_without_a_wait() -> None:
    clock = FakeClock()
    module = ScriptedM95(clock, ack_delay_s=0.0)
    result = send_with_flow_control(module, DATA, clock=clock)
    assert result.completed and result.handed_over == len(DATA) and not result.stalls
    assert b"".join(d for _, d in module.sends) == DATA
    assert [len(d) for _, d in module.sends] == [1460] * 7 + [20]
    assert len(result.checks) == 8  # AT+QISACK before every packet


def test_at_3000_unacknowledged_the_host_stops_and_polls_every_5_s_until_below() -> None:
    clock = FakeClock()
    module = ScriptedM95(clock, ack_delay_s=12.0)  # a slow path: each packet acknowledged 12 s after it went
    result = send_with_flow_control(module, DATA, clock=clock)
    assert result.completed
    assert result.max_unacked_at_send < 3000
    assert result.stalls, "the count reached 3000 at least once"
    for stall in result.stalls:
        assert all(b.t - a.t == pytest.approx(5, abs=0.1) for a, b in pairwise(stall.polls))
        assert stall.last.unacked < 3000


def test_a_server_that_stopped_reading_is_given_20_polls_then_the_connection_counts_as_broken() -> None:
    clock = FakeClock()
    module = ScriptedM95(clock, ack_delay_s=0.0, window=4000)  # 4000 bytes acknowledged, then the window is closed
    result = send_with_flow_control(module, DATA, clock=clock)
    assert not result.completed
    assert result.reason == f"still {result.stalls[-1].last.unacked} unacknowledged after 20 polls"
    assert len(result.stalls[-1].polls) == FLOW_CONTROL.max_polls
    assert result.stalls[-1].polls[-1].t - result.stalls[-1].polls[0].t == pytest.approx(95, abs=0.5)
    assert result.resend_from == 4000  # what the server acknowledged is not sent again
    assert result.handed_over == 7300  # five packets: after the fifth, 3300 are unacknowledged


def test_send_fail_stops_the_send_and_says_where_to_resume() -> None:
    clock = FakeClock()
    module = ScriptedM95(clock, ack_delay_s=None, send_result="SEND FAIL")
    result = send_with_flow_control(module, DATA, clock=clock)
    assert not result.completed and result.reason == "SEND FAIL"
    assert result.handed_over == 0 and result.resend_from == 0


@pytest.mark.parametrize("packet", [0, 1461])
def test_a_packet_size_one_qisend_cannot_carry_is_refused(packet: int) -> None:
    with pytest.raises(ValueError, match="1460"):
        send_with_flow_control(ScriptedM95(FakeClock()), DATA, packet=packet)
