"""Case format 1.1 in the matcher, against a scripted module on a real pty: alternatives, optional lines, a command's
own line end, placeholders and captures in patterns, defaults."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import pytest
from helpers.responder import Responder

from conformance.errors import StepFailed
from conformance.session import Session
from conformance.transcript import Runner, Scope
from conformance.transcript.parser import parse_transcript

OK = b"\r\nOK\r\n"


def run(session: Session, text: str, *, context: Mapping[str, Any] | None = None, **values: Any) -> Runner:
    names = set(values) | set(context or {}) | {"bench", "module"}
    steps, _ = parse_transcript(text, ("case.yaml", 10), names)
    runner = Runner(session, Scope({"bench": {}, **values, **(context or {})}), dict(context or {}),
                    flight_log="x.atlog")
    runner.run(steps)
    return runner


def test_one_line_alternatives_take_whichever_answer_comes(session: Session, responder: Responder) -> None:
    responder.on(b"AT+QICLOSE=0", b"\r\nERROR\r\n")
    responder.on(b"AT+QISEND=0,4", b"\r\n> ")
    runner = run(session, "> AT+QICLOSE=0\n< OK | ERROR\n> AT+QISEND=0,4\n< > | ERROR\n")
    taken = [(r.step.source, r.observed) for r in runner.records if r.status == "ok"]
    assert taken == [("< ERROR", "ERROR"), ("< >", "> ")]


def test_alternatives_that_all_miss_fail_at_once_naming_each(session: Session, responder: Responder) -> None:
    responder.on(b"AT+QICLOSE=0", b"\r\n+CME ERROR: 3\r\n")
    t0 = time.monotonic()
    with pytest.raises(StepFailed) as err:
        run(session, "> AT+QICLOSE=0\n< OK | ERROR\n")
    assert time.monotonic() - t0 < 2
    assert str(err.value) == "case.yaml:11: expected one of 'OK', 'ERROR', the module said '+CME ERROR: 3'"


def test_a_branch_is_chosen_by_its_first_line_and_the_rest_of_it_runs(session: Session,
                                                                      responder: Responder) -> None:
    responder.on(b"AT+QIACT?", b'\r\n+QIACT: 1,1,3,"10.0.0.2","fe80::2"\r\n' + OK)
    responder.on(b"AT+QIDEACT=1", OK)
    runner = run(session, '''
      > AT+QIACT?
      <|
      < +QIACT: 1,1,1,"<ip:ip>"
      < OK
      |
      < +QIACT: 1,1,3,"<ip:ip>","<ip6:ip>"
      < OK
      > AT+QIDEACT=1
      < OK
      |>
    ''')
    assert runner.scope.values["ip"] == "10.0.0.2" and runner.scope.values["ip6"] == "fe80::2"
    assert b"AT+QIDEACT=1\r" in responder.wait_received(30)


def test_an_optional_line_is_reported_as_come_or_not(session: Session, responder: Responder) -> None:
    responder.on(b"AT+QIDEACT=1", OK, b'\r\n+QIURC: "closed",0\r\n')
    responder.on(b"AT", OK)
    runner = run(session, '''
      > AT+QIDEACT=1
      < OK
      <? +QIURC: "closed",0
      <? +QIURC: "closed",1
      > AT
      < OK
    ''')
    notes = [(r.step.source, r.detail) for r in runner.records if r.detail.startswith("optional")]
    assert notes == [('<? +QIURC: "closed",0', "optional: came"), ('<? +QIURC: "closed",1', "optional: did not come")]
    assert runner.unexpected() == []


def test_an_optional_line_set_aside_earlier_is_claimed(session: Session, responder: Responder) -> None:
    responder.on(b"AT", b'\r\n+QIURC: "closed",2\r\n' + OK)
    runner = run(session, '> AT\n< OK\n<? +QIURC: "closed",<id:int>\n')
    assert runner.scope.values["id"] == 2 and runner.unexpected() == []


def test_an_optional_line_with_a_window_waits_for_it_no_longer(session: Session, responder: Responder) -> None:
    responder.on(b"AT", OK)
    t0 = time.monotonic()
    runner = run(session, '> AT\n< OK\n<? +QIURC: "pdpdeact",1  [within 300ms]\n')
    assert 0.25 < time.monotonic() - t0 < 1.5
    assert runner.records[-1].detail == "optional: did not come"


def test_a_command_line_ends_as_its_annotation_says(session: Session, responder: Responder) -> None:
    responder.echo = False
    run(session, "> AT+A  [end CRLF]\n> AT+B  [end LF]\n> AT+C\n")
    assert responder.wait_received(20) == b"AT+A\r\nAT+B\nAT+C\r"


def test_a_poll_sends_again_with_the_same_line_end(session: Session, responder: Responder) -> None:
    answers = iter([b"\r\n+QISEND: 4,0,4\r\n" + OK, b"\r\n+QISEND: 4,4,0\r\n" + OK])
    responder.echo = False
    responder.rules[b"AT+QISEND=0,0"] = lambda _line: [next(answers)]
    responder.rules[b"\nAT+QISEND=0,0"] = lambda _line: [next(answers)]  # the LF of a CR LF opens the next line
    run(session, "> AT+QISEND=0,0  [end CRLF]\n< +QISEND: 4,4,0  [until 2s, every 50ms]\n< OK\n")
    assert responder.wait_received(30).count(b"AT+QISEND=0,0\r\n") == 2


def test_a_pattern_matches_a_placeholder_literally(session: Session, responder: Responder) -> None:
    responder.on(b"AT+QIACT?", b'\r\n+QIACT: 1,1,1,"10x0x0x1"\r\n' + OK)
    with pytest.raises(StepFailed, match="the module said '\\+QIACT: 1,1,1,\"10x0x0x1\"'"):
        run(session, '> AT+QIACT?\n< /\\+QIACT: 1,1,[13],"{ip}"(,"[0-9a-f:]+")?/\n', ip="10.0.0.1")


def test_a_pattern_captures_typed_values(session: Session, responder: Responder) -> None:
    responder.on(b"AT+QISTATE", b'\r\n+QISTATE: 0,"TCP","10.0.0.1",7,65514\r\n' + OK)
    runner = run(session, '> AT+QISTATE\n< /\\+QISTATE: 0,"TCP","{ip}",\\d+,<port:int>/\n< OK\n', ip="10.0.0.1")
    assert runner.scope.values["port"] == 65514


def test_a_default_stands_in_for_a_missing_bench_value(session: Session, responder: Responder) -> None:
    responder.echo = False
    run(session, '> AT+QICSGP=2,1,"{bench.apn|internet}",{bench.auth|0}\n')
    assert responder.wait_received(27) == b'AT+QICSGP=2,1,"internet",0\r'
