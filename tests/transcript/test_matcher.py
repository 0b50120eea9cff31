"""The matcher against a scripted module on a real pty: captures, windows, deadlines, and the failure report."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from helpers.responder import Responder

from conformance.errors import ActionFailed, StepFailed
from conformance.link import Link
from conformance.session import Session
from conformance.transcript import Runner, Scope
from conformance.transcript.parser import parse_transcript


def run(session: Session, text: str, *, context: Mapping[str, Any] | None = None, **values: Any) -> Runner:
    names = set(values) | set(context or {}) | {"bench", "module"}
    steps, _ = parse_transcript(text, ("case.yaml", 10), names)
    runner = Runner(session, Scope({**values, **(context or {})}), dict(context or {}), flight_log="x.atlog")
    runner.run(steps)
    return runner


def test_captures_bind_typed_values_for_later_lines(session: Session, responder: Responder) -> None:
    responder.on(b'AT+QIOPEN=1,3,"TCP","1.2.3.4",80,0,0', b"\r\nOK\r\n", 0.02, b"\r\n+QIOPEN: 3,0\r\n")
    responder.on(b"AT+QICLOSE=3", b"\r\nOK\r\n")
    responder.on(b"AT+QIACT?", b'\r\n+QIACT: 1,1,1,"10.7.157.1"\r\n\r\nOK\r\n')
    runner = run(session, '''
      > AT+QIOPEN=1,3,"TCP","1.2.3.4",80,0,0
      < OK
      < +QIOPEN: <id:int>,0
      > AT+QICLOSE={id}
      < OK
      > AT+QIACT?
      < +QIACT: 1,1,1,"<ip:ip>"
      < OK
    ''')
    assert runner.scope.values["id"] == 3 and runner.scope.values["ip"] == "10.7.157.1"


def test_a_capture_repeated_must_match_its_first_value(session: Session, responder: Responder) -> None:
    responder.write(b"\r\n+QIOPEN: 1,0\r\n\r\n+QIURC: \"closed\",2\r\n")
    with pytest.raises(StepFailed, match=r"closed\\\",2|closed\",2"):
        run(session, '''
          < +QIOPEN: <id:int>,0
          < +QIURC: "closed",<id:int>      [within 1s]
        ''')


def test_regex_lines_capture_named_groups(session: Session, responder: Responder) -> None:
    responder.write(b'\r\n+QPING: 0,"10.0.0.1",32,12,255\r\n')
    runner = run(session, r'< /\+QPING: 0,"(?P<ip>[\d.]+)",32,(?P<time>\d+),\d+/')
    assert runner.scope.values == {"ip": "10.0.0.1", "time": "12"}


def test_urc_before_the_response_is_set_aside_and_claimed_later(session: Session, responder: Responder) -> None:
    # a fast echo server: the recv URC comes before SEND OK
    responder.on(b"AT+QISEND=0,4", b"\r\n> ")
    import threading

    def after_data() -> None:
        responder.wait_received(len(b"AT+QISEND=0,4\r") + 4)
        responder.write(b'\r\n+QIURC: "recv",0\r\n', b"\r\nSEND OK\r\n")

    threading.Thread(target=after_data, daemon=True).start()
    runner = run(session, '''
      > AT+QISEND=0,4
      < >
      >> test
      < SEND OK
      < +QIURC: "recv",0
    ''')
    assert [r.status for r in runner.records].count("aside") == 1
    assert runner.unexpected() == []


def test_a_urc_of_the_expected_kind_with_other_values_fails_at_once(session: Session, responder: Responder) -> None:
    responder.write(b'\r\n+QIURC: "closed",1\r\n\r\n+QIURC: "recv",1\r\n')
    t0 = time.monotonic()
    with pytest.raises(StepFailed, match=r"the module said '\+QIURC: \"recv\",1'"):
        run(session, '< +QIURC: "recv",0')
    assert time.monotonic() - t0 < 2


def test_unexpected_urcs_are_recorded_or_fail_by_policy(session: Session, responder: Responder) -> None:
    responder.on(b"AT", b'\r\n+QIURC: "pdpdeact",1\r\n\r\nOK\r\n')
    runner = run(session, "> AT\n< OK")
    runner.check_unexpected()  # record: does not raise
    assert [t.text for t in runner.unexpected()] == ['+QIURC: "pdpdeact",1']
    steps, _ = parse_transcript("> AT\n< OK", ("c.yaml", 1), set())
    strict = Runner(session, Scope(), unexpected_urcs="fail")
    strict.run(steps)
    with pytest.raises(StepFailed, match="unexpected URC"):
        strict.check_unexpected()


def test_a_wrong_line_fails_at_once_with_a_side_by_side_report(session: Session, responder: Responder) -> None:
    responder.on(b'AT+QIOPEN=1,0,"TCP","1.2.3.4",7,0,0', b"\r\nOK\r\n", b"\r\n+QIOPEN: 0,566\r\n")
    t0 = time.monotonic()
    with pytest.raises(StepFailed) as err:
        run(session, '''
          > AT+QIOPEN=1,0,"TCP","1.2.3.4",7,0,0
          < OK
          < +QIOPEN: 0,0
        ''')
    assert time.monotonic() - t0 < 2  # not the 150 s deadline: a mismatch needs no waiting
    e = err.value
    assert str(e).startswith("case.yaml:13: expected '+QIOPEN: 0,0'")
    assert "'+QIOPEN: 0,566'" in str(e)
    report = e.report
    assert ">>" in report and "+QIOPEN: 0,566" in report and "(echo) AT+QIOPEN" in report
    assert "failing step: case.yaml:13" in report and "flight log: x.atlog" in report


def test_silence_past_the_deadline_fails_with_what_was_waiting(session: Session, responder: Responder) -> None:
    responder.on(b"AT", b"\r\nOK\r\n", b"\r\npartial")
    t0 = time.monotonic()
    with pytest.raises(StepFailed) as err:
        run(session, "> AT\n< OK\n< DONE  [within 300ms]")
    elapsed = time.monotonic() - t0
    assert 0.29 < elapsed < 1.5
    assert "within 0.3 s (the case's own)" in str(err.value)
    assert "unparsed bytes 'partial'" in str(err.value)


def test_default_deadline_is_the_documented_response_time(session: Session) -> None:
    steps, _ = parse_transcript("< OK", ("c.yaml", 1), set())
    runner = Runner(session, Scope())
    from conformance.transcript.model import SendLine
    from conformance.transcript.template import parse_template

    runner._run_step(SendLine(steps[0].location, "> AT+QIACT=1", parse_template("AT+QIACT=1")))
    _, why = runner._deadline(steps[0], None)
    assert "150 s" in why and "§2.1.2" in why
    runner._run_step(SendLine(steps[0].location, "> AT+QICLOSE=0,25", parse_template("AT+QICLOSE=0,25")))
    _, why = runner._deadline(steps[0], None)
    assert "25 s" in why  # the command's own <timeout>


def test_not_before_fails_an_answer_that_came_too_early(session: Session, responder: Responder) -> None:
    responder.on(b"AT", b"\r\nOK\r\n")
    with pytest.raises(StepFailed, match="earlier than not before 1 s"):
        run(session, "> AT\n< OK  [not before 1s]")


def test_within_fails_an_answer_that_came_too_late(session: Session, responder: Responder) -> None:
    responder.on(b"AT", 0.3, b"\r\nOK\r\n")
    with pytest.raises(StepFailed, match="nothing matching came"):
        run(session, "> AT\n< OK  [within 100ms]")


def test_a_window_is_met_by_a_urc_arriving_later(session: Session, responder: Responder) -> None:
    responder.on(b"AT+QIOPEN", b"\r\nOK\r\n")
    responder.on(b"AT", b"\r\nOK\r\n", 0.1, b'\r\n+QIURC: "recv",0\r\n')
    runner = run(session, '''
      > AT
      <~ +QIURC: "recv",0          [within 2s]
      < OK
    ''')
    assert any(r.detail == "in its window" for r in runner.records)


def test_a_window_that_closes_empty_fails(session: Session, responder: Responder) -> None:
    responder.on(b"AT", b"\r\nOK\r\n")
    with pytest.raises(StepFailed, match=r"within 0.2 s .*it did not come"):
        run(session, '''
          > AT
          <~ +QIURC: "recv",0      [within 200ms]
          < OK
        ''')


def test_a_window_satisfied_too_early_fails(session: Session, responder: Responder) -> None:
    responder.on(b"AT", b'\r\n+QIURC: "recv",0\r\n\r\nOK\r\n')
    with pytest.raises(StepFailed, match="earlier than not before"):
        run(session, '''
          > AT
          <~ +QIURC: "recv",0      [within 2s, not before 500ms]
          < OK
        ''')


def test_data_after_a_header_is_checked_byte_for_byte(session: Session, responder: Responder) -> None:
    responder.on(b"AT+QIRD=0,1500", b"\r\n+QIRD: 4\r\nte\x1ast\r\n\r\nOK\r\n")
    with pytest.raises(StepFailed, match=r"data differs at byte 2"):
        run(session, "> AT+QIRD=0,1500\n< +QIRD: 4\n<< tes\\x00\n< OK")


def test_data_payload_matches_exactly(session: Session, responder: Responder) -> None:
    responder.on(b"AT+QIRD=0,1500", b"\r\n+QIRD: 4\r\nte\x1at\r\n\r\nOK\r\n")
    run(session, "> AT+QIRD=0,1500\n< +QIRD: 4\n<< te<Ctrl+Z>t\n< OK")


def test_silence_step_fails_on_any_byte(session: Session, responder: Responder) -> None:
    responder.on(b"AT", b"\r\nOK\r\n", 0.1, b"\r\nRDY\r\n")
    with pytest.raises(StepFailed, match=r"expected 1 s of silence; after 0\.[0-9]+ s the module sent"):
        run(session, "> AT\n< OK\n~ silence 1s")


def test_the_late_lf_of_the_line_before_a_silence_does_not_break_it(session: Session, responder: Responder) -> None:
    # a module's UART or USB stack may deliver a result's CR LF in two pieces: the LF ends the line, it is not output
    responder.on(b"AT", b"\r\nOK\r", 0.05, b"\n")
    run(session, "> AT\n< OK\n~ silence 500ms")


def test_a_second_lf_after_the_line_before_a_silence_breaks_it(session: Session, responder: Responder) -> None:
    responder.on(b"AT", b"\r\nOK\r", 0.05, b"\n\n")
    with pytest.raises(StepFailed, match=r"expected 0\.5 s of silence; after 0\.[0-9]+ s the module sent '\\\\n'"):
        run(session, "> AT\n< OK\n~ silence 500ms")


def test_checks_compare_numbers_and_text(session: Session, responder: Responder) -> None:
    responder.on(b"AT+QISEND=0,0", b"\r\n+QISEND: 10,4,6\r\n\r\nOK\r\n")
    run(session, '''
      > AT+QISEND=0,0
      < +QISEND: <total:int>,<acked:int>,<unacked:int>
      < OK
      ? {unacked} > 0
      ? {total} == 10
    ''')
    with pytest.raises(StepFailed, match="check failed: 6 == 0"):
        run(session, '''
          > AT+QISEND=0,0
          < +QISEND: <total:int>,<acked:int>,<unacked:int>
          < OK
          ? {unacked} == 0
        ''')


class Target:
    """A stand-in peer for the matcher's side of the action interface (real peers are tested in tests/peers)."""

    host = "10.0.0.1"
    port = 7000

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[object], float]] = []

    def perform(self, verb: str, args: Sequence[object], *, deadline: float,
                context: Mapping[str, object]) -> str | None:
        self.calls.append((verb, list(args), deadline - time.monotonic()))
        if verb == "received" and args[0] != b"test":
            raise ActionFailed(f"expected {args[0]!r}, received b'test'")
        return "ok"


def test_actions_get_decoded_arguments_and_a_deadline(session: Session) -> None:
    peer = Target()
    run(session, '! peer send "a\\r\\n{bytes:0-1}" 42 {peer.port} word  [within 3s]', context={"peer": peer})
    verb, args, left = peer.calls[0]
    assert verb == "send" and args == [b"a\r\n\x00\x01", 42, 7000, "word"]
    assert 2.5 < left <= 3.0


def test_a_failed_action_fails_its_step(session: Session) -> None:
    with pytest.raises(StepFailed, match=r"case.yaml:10: expected b'nope'"):
        run(session, '! peer received "nope"', context={"peer": Target()})


def test_placeholders_from_needs_fill_commands(session: Session, responder: Responder) -> None:
    responder.on(b'AT+QIOPEN=1,0,"TCP","10.0.0.1",7000,0,0', b"\r\nOK\r\n")
    run(session, '> AT+QIOPEN=1,0,"TCP","{peer.host}",{peer.port},0,0\n< OK', context={"peer": Target()})


def test_until_polls_the_last_command_until_its_answer_matches(session: Session, responder: Responder) -> None:
    answers = iter([b"\r\n+QISEND: 8760,4096,4664\r\n\r\nOK\r\n", b"\r\n+QISEND: 8760,8000,760\r\n\r\nOK\r\n",
                    b"\r\n+QISEND: 8760,8760,0\r\n\r\nOK\r\n"])
    responder.rules[b"AT+QISEND=0,0"] = lambda _line: [next(answers)]
    runner = run(session, '''
      > AT+QISEND=0,0
      < +QISEND: 8760,8760,0          [until 3s, every 50ms]
      < OK
    ''')
    sent = [r for r in runner.records if r.status == "sent"]
    assert len(sent) == 3  # the first query and two polls
    assert [r.detail for r in runner.records if r.status == "info"] == ["poll 1: not yet", "poll 2: not yet"]


def test_until_fails_with_the_last_answer_when_time_is_up(session: Session, responder: Responder) -> None:
    responder.on(b"AT+QISEND=0,0", b"\r\n+QISEND: 8760,4096,4664\r\n\r\nOK\r\n")
    t0 = time.monotonic()
    with pytest.raises(StepFailed, match=r"within 0.5 s of polling 'AT\+QISEND=0,0' \(\d+ polls, every 0.1 s\); "
                                         r"the last answer was '\+QISEND: 8760,4096,4664'"):
        run(session, "> AT+QISEND=0,0\n< +QISEND: 8760,8760,0  [until 500ms, every 100ms]")
    assert time.monotonic() - t0 < 2


# -- lines of the module's other subsystems (SIM, network, SMS, GNSS ...) --------------------------------------------

@pytest.mark.parametrize("line", [b"+QUSIM: 1", b"+QIND: SMS DONE", b"+CPIN: READY", b'+CEREG: 1,"1A2B","01A2B3C4",8',
                                  b"+QGPSURC: \"xtradata\"", b"+QMTSTAT: 0,1", b'+CMTI: "SM",3', b"RING",
                                  b"+QSOMETHINGNEW: 1,2"])
def test_a_line_of_another_subsystem_between_a_command_and_its_answer_is_recorded_not_failed(
        session: Session, responder: Responder, line: bytes) -> None:
    responder.on(b"AT+QIACT?", b"\r\n" + line + b"\r\n", 0.01, b'\r\n+QIACT: 1,1,1,"10.7.157.1"\r\n\r\nOK\r\n')
    runner = run(session, '''
      > AT+QIACT?
      < +QIACT: 1,1,1,"<ip:ip>"
      < OK
    ''')
    assert [t.text for t in runner.unexpected()] == [line.decode()]
    runner.check_unexpected()  # "record" (the default) does not fail


def test_a_line_of_another_subsystem_fails_a_case_that_asks_for_it(session: Session, responder: Responder) -> None:
    responder.on(b"AT+QIACT?", b"\r\n+QUSIM: 1\r\n", b'\r\n+QIACT: 1,1,1,"10.7.157.1"\r\n\r\nOK\r\n')
    runner = run(session, '''
      > AT+QIACT?
      < +QIACT: 1,1,1,"<ip:ip>"
      < OK
    ''')
    runner.unexpected_urcs = "fail"
    with pytest.raises(StepFailed, match=r"unexpected URC\(s\): '\+QUSIM: 1'"):
        runner.check_unexpected()


def test_an_information_line_of_the_command_in_progress_is_its_answer_not_a_urc(
        session: Session, responder: Responder) -> None:
    # +CPIN: READY is also a start-up URC, but after AT+CPIN? it is the answer: a wrong one fails the step
    responder.on(b"AT+CPIN?", b"\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n")
    with pytest.raises(StepFailed, match="the module said '\\+CPIN: SIM PIN'"):
        run(session, '''
          > AT+CPIN?
          < +CPIN: READY
          < OK
        ''')


# -- a final result code without its line end ------------------------------------------------------------------------

def test_a_result_without_its_line_end_is_framed_at_once_and_reported_as_a_deviation(
        session: Session, responder: Responder) -> None:
    # seen on a real BG96: "SEND OK" with no CR LF, then the echo of the next command right after it
    responder.on(b"AT+QISEND=0,4", b"\r\n> ")
    responder.on(b"AT+QIRD=0,0", b"\r\n+QIRD: 4,4,0\r\n\r\nOK\r\n")

    def after_data() -> None:
        responder.wait_received(len(b"AT+QISEND=0,4\r") + 4)
        responder.forget_line()  # the payload is data, not the start of a command line
        responder.write(b"\r\nSEND OK")

    threading.Thread(target=after_data, daemon=True).start()
    t0 = time.monotonic()
    runner = run(session, '''
      > AT+QISEND=0,4
      < >
      >> test
      < SEND OK
      > AT+QIRD=0,0
      < +QIRD: 4,4,0
      < OK
    ''')
    assert time.monotonic() - t0 < 5  # not the 60 s deadline of a line that never ends
    warnings = runner.deviations
    assert len(warnings) == 1 and "without its line end" in warnings[0].detail
    assert warnings[0].step is not None and warnings[0].step.location.line == 14


def test_a_result_urc_after_ok_gets_the_dialects_longer_wait(responder: Responder, link: Link) -> None:
    # BC660K: AT+QIOPEN answers OK within 5 s, and "+QIOPEN: <id>,<err>" may take 60 s (note §2.3.1 note 2)
    from conformance import dialects

    responder.on(b'AT+QIOPEN=0,0,"TCP","10.0.0.1",7', b"\r\nOK\r\n")
    session = Session(link, dialects.get("bc660k"))
    steps, _ = parse_transcript('> AT+QIOPEN=0,0,"TCP","10.0.0.1",7\n< OK\n< +QIOPEN: 0,0', ("case.yaml", 1),
                                {"bench", "module"})
    runner = Runner(session, Scope())
    _, before_ok = runner._deadline(steps[1], None)
    runner.run(steps[:2])
    _, after_ok = runner._deadline(steps[2], None)
    assert "within 5 s" in before_ok or "5 s" in before_ok
    assert after_ok.startswith("within 60 s") and "result URC" in after_ok


def test_a_line_an_open_window_waits_for_does_not_break_a_silence(session: Session, responder: Responder) -> None:
    def late_urc() -> None:
        responder.wait_received(len(b"AT\r"))
        time.sleep(0.2)  # the URC comes while the case keeps silence
        responder.write(b"\r\n0, REMOTE IP: 10.0.0.7\r\n")

    responder.on(b"AT", b"\r\nOK\r\n")
    threading.Thread(target=late_urc, daemon=True).start()
    runner = run(session, """
      > AT
      < OK
      <~ <i:int>, REMOTE IP: <ip:ip>     [within 5s]
      ~ silence 1s
    """)
    assert runner.scope.values["ip"] == "10.0.0.7"


def test_a_line_no_window_waits_for_breaks_a_silence(session: Session, responder: Responder) -> None:
    def late_urc() -> None:
        responder.wait_received(len(b"AT\r"))
        time.sleep(0.2)
        responder.write(b"\r\nRING\r\n")

    responder.on(b"AT", b"\r\nOK\r\n")
    threading.Thread(target=late_urc, daemon=True).start()
    with pytest.raises(StepFailed, match=r"expected 1 s of silence.*RING"):
        run(session, """
          > AT
          < OK
          <~ <i:int>, REMOTE IP: <ip:ip>     [within 5s]
          ~ silence 1s
        """)
