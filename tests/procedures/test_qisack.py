"""The keepalive and detection procedures' decisions, on a scripted module and a fake clock: how often they poll,
when they give up, what they report. The same procedures against the simulated module: cases/m95/test_keepalive.py.
"""

from __future__ import annotations

import pytest
from scripted import FakeClock, ScriptedM95

from conformance.procedures import (
    DETECTION,
    HEARTBEAT,
    HEARTBEAT_V11,
    Polling,
    ProcedureError,
    detect,
    heartbeat,
    poll_acknowledged,
    query_ack,
    reopen,
)


def test_the_documented_numbers_are_the_dialects() -> None:
    assert (HEARTBEAT.first_wait_s, HEARTBEAT.interval_s, HEARTBEAT.max_polls) == (5, 5, 24)
    assert HEARTBEAT.bound_s == 120  # recommended process §6: "two minutes"
    assert (DETECTION.first_wait_s, DETECTION.interval_s, DETECTION.max_polls) == (5, 10, 12)
    assert HEARTBEAT_V11.bound_s == 90  # recommended process V1.1 §9: "Get ACK in 90s"


@pytest.mark.parametrize("line", ["+QISACK: 30, 20, 10", "+QISACK: 30,20,10", "+QISACK:30, 20,10"])
def test_qisack_is_read_with_or_without_spaces(line: str) -> None:
    clock = FakeClock()
    module = ScriptedM95(clock, qisack_format=line.replace("30", "{0}").replace("20", "{1}").replace("10", "{2}"))
    module.sends.append((clock.now(), b"x" * 30))
    module.ack_delay_s = None
    state = query_ack(module)
    assert (state.sent, state.acked, state.unacked) == (30, 0, 30)


def test_an_error_to_qisack_is_a_procedure_error_naming_the_answer() -> None:
    module = ScriptedM95(FakeClock(), qisack_format="ERROR")
    with pytest.raises(ProcedureError, match=r"AT\+QISACK=9.*ERROR"):
        query_ack(module, index=9)


def test_polling_stops_at_the_first_acknowledged_answer() -> None:
    clock = FakeClock()
    module = ScriptedM95(clock, ack_delay_s=12)
    module.sends.append((clock.now(), b"Heart01"))
    result = poll_acknowledged(module, HEARTBEAT, clock=clock)
    assert result.satisfied
    assert [round(p.t) for p in result.polls] == [5, 10, 15]  # the first poll at 5 s, then every 5 s
    assert result.last.unacked == 0


def test_polling_gives_up_after_the_documented_count_within_the_documented_bound() -> None:
    clock = FakeClock()
    module = ScriptedM95(clock, ack_delay_s=None)
    module.sends.append((clock.now(), b"Heart01"))
    result = poll_acknowledged(module, HEARTBEAT, clock=clock)
    assert not result.satisfied
    assert len(result.polls) == 24
    assert result.polls[-1].t == pytest.approx(120, abs=0.1)
    assert all(p.unacked == 7 for p in result.polls)


def test_polls_keep_their_schedule_when_answers_are_slow() -> None:
    clock = FakeClock()
    module = ScriptedM95(clock, ack_delay_s=None, command_s=1.5)
    module.sends.append((clock.now(), b"x"))
    result = poll_acknowledged(module, Polling(5, 10, 4), clock=clock)
    assert [round(p.t, 1) for p in result.polls] == [5, 15, 25, 35]  # not 5, 16.5, 28, 39.5


def test_heartbeat_on_a_healthy_connection() -> None:
    clock = FakeClock()
    module = ScriptedM95(clock, ack_delay_s=0.5)
    verdict = heartbeat(module, clock=clock)
    assert verdict.healthy and verdict.reason == "acknowledged"
    assert module.sends[0][1] == b"Heart01"
    assert [line for line in module.log if line.startswith("AT+QISEND")] == ["AT+QISEND=7"]
    assert len(verdict.polls) == 2  # the check before (nothing sent yet) and one poll 5 s after the heartbeat


def test_heartbeat_is_broken_when_never_acknowledged_and_says_so_within_two_minutes() -> None:
    clock = FakeClock()
    module = ScriptedM95(clock, ack_delay_s=0.1, blackhole_from=clock.now())
    module.sends.append((clock.now() - 10, b"x" * 1448))  # earlier data, acknowledged
    verdict = heartbeat(module, clock=clock)
    assert not verdict.healthy and verdict.reason == "heartbeat never acknowledged"
    assert verdict.after is not None and len(verdict.after.polls) == 24
    assert verdict.after.polls[-1].t - verdict.after.polls[0].t == pytest.approx(115, abs=0.5)
    assert verdict.elapsed_s <= HEARTBEAT.bound_s + 1


def test_heartbeat_is_not_sent_while_earlier_data_waits_for_its_acknowledgement() -> None:
    clock = FakeClock()
    module = ScriptedM95(clock, ack_delay_s=None)
    module.sends.append((clock.now(), b"x" * 36))
    verdict = heartbeat(module, polling=Polling(5, 5, 3), clock=clock)
    assert not verdict.healthy and verdict.reason == "earlier data never acknowledged"
    assert len(module.sends) == 1  # no heartbeat went
    assert [round(p.t) for p in verdict.polls] == [0, 5, 10]  # asked at once, then every interval


@pytest.mark.parametrize("reads_completions", [False, True], ids=["stops_at_ok", "reads_past_ok"])
def test_detection_checks_the_state_first(reads_completions: bool) -> None:
    clock = FakeClock()
    module = ScriptedM95(clock, state="IP CLOSE", reads_completions=reads_completions)
    verdict = detect(module, clock=clock)
    assert not verdict.healthy and verdict.reason == "STATE: IP CLOSE"
    assert module.log == ["AT+QISTAT"]


def test_detection_on_a_black_hole_gives_up_after_12_polls_10_s_apart() -> None:
    clock = FakeClock()
    module = ScriptedM95(clock, ack_delay_s=None)
    verdict = detect(module, clock=clock)
    assert not verdict.healthy and verdict.reason == "packet never acknowledged"
    assert module.sends[0][1] == b"TCP detect"
    assert verdict.after is not None
    assert [round(p.t) for p in verdict.after.polls] == [5 + 10 * n for n in range(12)]


def test_detection_with_multiple_connections_uses_the_index_and_no_qistat() -> None:
    clock = FakeClock()
    module = ScriptedM95(clock)
    verdict = detect(module, index=3, clock=clock)
    assert verdict.healthy
    assert "AT+QISTAT" not in module.log
    assert module.log[:2] == ["AT+QISACK=3", "AT+QISEND=3,10"]


@pytest.mark.parametrize("reads_completions", [False, True], ids=["stops_at_ok", "reads_past_ok"])
def test_reopen_closes_then_opens_the_same_server(reads_completions: bool) -> None:
    clock = FakeClock()
    module = ScriptedM95(clock, reads_completions=reads_completions)
    assert reopen(module, "TCP", "10.0.0.1", 7007) == "CONNECT OK"
    assert module.log == ["AT+QICLOSE", 'AT+QIOPEN="TCP","10.0.0.1",7007']


def test_a_polling_with_no_polls_is_refused() -> None:
    with pytest.raises(ValueError):
        Polling(5, 5, 0)
