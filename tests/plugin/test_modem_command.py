"""``Modem.command`` reads a response to its real end, as the dialect says it ends."""

from __future__ import annotations

from helpers.responder import Responder

from conformance import dialects
from conformance.link import Link
from conformance.plugin.modem import Modem
from conformance.session import Session


def _modem(link: Link, dialect: str) -> Modem:
    d = dialects.get(dialect)
    return Modem(link.url, d, link, Session(link, d))


def test_a_response_that_goes_on_after_ok_is_read_to_its_end(responder: Responder, link: Link) -> None:
    responder.on(b"AT+QICLOSE=0", b"\r\nOK\r\n", 0.05, b"\r\nCLOSE OK\r\n")
    responder.on(b"AT", b"\r\nOK\r\n")
    modem = _modem(link, "bc660k")
    got = modem.command("AT+QICLOSE=0")
    assert (got.final, got.completion, got.ok) == ("OK", "CLOSE OK", True)
    assert modem.command("AT").lines == []  # CLOSE OK did not spill into the next command's answer


def test_an_error_after_ok_ends_the_response(responder: Responder, link: Link) -> None:
    responder.on(b'AT+QIOPEN="TCP","10.0.0.1",7', b"\r\nOK\r\n", b"\r\nCONNECT FAIL\r\n")
    got = _modem(link, "m95").command('AT+QIOPEN="TCP","10.0.0.1",7')
    assert (got.final, got.completion) == ("OK", "CONNECT FAIL")


def test_a_command_answered_with_no_result_code_ends_at_its_answer(responder: Responder, link: Link) -> None:
    responder.on(b"AT+QILOCIP", b"\r\n10.7.3.2\r\n")
    got = _modem(link, "m95").command("AT+QILOCIP", timeout=2)
    assert (got.lines, got.final, got.ok) == (["10.7.3.2"], "", True)
