"""The session cuts what real modules send into tokens without losing a byte, however the bytes are split."""

from __future__ import annotations

import itertools
import time

from helpers.responder import Responder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance import dialects
from conformance.link import Link
from conformance.session import Session, Token


def _soon(seconds: float = 2.0) -> int:
    return time.monotonic_ns() + int(seconds * 1e9)


def _tokens(session: Session, seconds: float = 0.3) -> list[tuple[str, str]]:
    out = []
    while (tok := session.next_token(_soon(seconds))) is not None:
        out.append((tok.kind, tok.text))
    return out


def test_echo_on_is_recognised_and_set_apart(session: Session, responder: Responder) -> None:
    responder.on(b"AT+QIACT?", b'\r\n+QIACT: 1,1,1,"10.7.157.1"\r\n\r\nOK\r\n')
    session.send_command("AT+QIACT?")
    assert _tokens(session) == [("echo", "AT+QIACT?"), ("line", '+QIACT: 1,1,1,"10.7.157.1"'), ("line", "OK")]


def test_echo_off_leaves_nothing_to_set_apart(session: Session, responder: Responder) -> None:
    responder.echo = False
    responder.on(b"AT", b"\r\nOK\r\n")
    session.send_command("AT")
    assert _tokens(session) == [("line", "OK")]
    # and a later line equal to the old command is a line, not an echo: the final result ended the wait for one
    responder.write(b"\r\nAT\r\n")
    assert _tokens(session) == [("line", "AT")]


def test_urc_between_ok_and_result_urc(session: Session, responder: Responder) -> None:
    responder.on(b'AT+QIOPEN=1,0,"TCP","1.2.3.4",80,0,0',
                 b"\r\nOK\r\n", b'\r\n+QIURC: "pdpdeact",1\r\n', b"\r\n+QIOPEN: 0,0\r\n")
    session.send_command('AT+QIOPEN=1,0,"TCP","1.2.3.4",80,0,0')
    kinds = _tokens(session)
    assert kinds[1:] == [("line", "OK"), ("line", '+QIURC: "pdpdeact",1'), ("line", "+QIOPEN: 0,0")]


def test_urc_inside_a_multi_line_response(session: Session, responder: Responder) -> None:
    responder.on(b"AT+QISTATE?", b'\r\n+QISTATE: 0,"TCP","1.2.3.4",80,5000,2,1,0,0,"usbmodem"\r\n',
                 b'\r\n+QIURC: "recv",0\r\n', b'+QISTATE: 1,"UDP","1.2.3.4",53,5001,2,1,0,0,"usbmodem"\r\n',
                 b"\r\nOK\r\n")
    session.send_command("AT+QISTATE?")
    texts = [t for _, t in _tokens(session)]
    assert texts[1:] == ['+QISTATE: 0,"TCP","1.2.3.4",80,5000,2,1,0,0,"usbmodem"', '+QIURC: "recv",0',
                         '+QISTATE: 1,"UDP","1.2.3.4",53,5001,2,1,0,0,"usbmodem"', "OK"]


def test_prompt_has_no_line_end_and_its_space_may_come_late(session: Session, responder: Responder) -> None:
    responder.on(b"AT+QISEND=0,4", b"\r\n>")
    session.send_command("AT+QISEND=0,4")
    assert session.next_token(_soon()).kind == "echo"
    prompt = session.next_token(_soon())
    assert prompt is not None and prompt.kind == "prompt"
    responder.write(b" ")  # the late space
    session.send_data(b"test")
    responder.write(b"test", b"\r\nSEND OK\r\n")  # AT+QISDE=1 echoes the data
    assert _tokens(session) == [("echo", "test"), ("line", "SEND OK")]


def test_result_run_into_the_next_echo_without_a_line_end(session: Session, responder: Responder) -> None:
    responder.echo = False
    session.send_command("AT+QISTATE?")
    responder.write(b"\r\nOKAT+QISTATE?\r")
    assert _tokens(session) == [("line", "OK"), ("echo", "AT+QISTATE?")]


def test_data_payload_with_line_ends_inside_is_taken_whole(session: Session, responder: Responder) -> None:
    responder.echo = False
    session.send_command("AT+QIRD=0,1500")
    responder.write(b"\r\n+QIRD: 6\r\n\r\nOK\r\n\r\n\r\nOK\r\n")
    tokens = _tokens(session)
    assert tokens == [("line", "+QIRD: 6"), ("data", "\r\nOK\r\n"), ("line", "OK")]


def test_totals_form_of_qird_is_not_a_data_header(session: Session, responder: Responder) -> None:
    responder.write(b"\r\n+QIRD: 5,5,0\r\n\r\nOK\r\n")
    assert _tokens(session) == [("line", "+QIRD: 5,5,0"), ("line", "OK")]


def test_direct_push_urc_carries_its_data(session: Session, responder: Responder) -> None:
    responder.write(b'\r\n+QIURC: "recv",0,4\r\nte\r\n', b"\r\n+QIURC: \"closed\",0\r\n")
    assert _tokens(session) == [("line", '+QIURC: "recv",0,4'), ("data", "te\r\n"), ("line", '+QIURC: "closed",0')]


def test_blank_lines_are_skipped_and_cr_or_lf_alone_end_lines(session: Session, responder: Responder) -> None:
    responder.write(b"\r\n\r\n\nRDY\n\rAPP RDY\r\r\n")
    assert _tokens(session) == [("line", "RDY"), ("line", "APP RDY")]


def test_transparent_mode_is_raw_bytes(session: Session, responder: Responder) -> None:
    responder.write(b"\r\nCONNECT\r\n")
    assert _tokens(session) == [("line", "CONNECT")]
    assert session.mode == "data"
    responder.write(b"\r\nOK\r\nnot a line\x00\xff")
    data = session.read_data(18, _soon())
    assert data is not None and data.raw == b"\r\nOK\r\nnot a line\x00\xff"


def test_nothing_is_lost_when_a_line_never_ends(session: Session, responder: Responder) -> None:
    responder.write(b"\r\n+QIURC: \"recv\",0\r\ngarbage\x00\x01 without end")
    assert _tokens(session) == [("line", '+QIURC: "recv",0')]
    assert session.unconsumed() == b"garbage\x00\x01 without end"


# -- every split parses the same --------------------------------------------------------------------------------------

STREAM = (
    b"AT+QIRD=0,1500\r"  # echo
    b"\r\n+QIRD: 5\r\ntest1\r\n\r\nOK\r\n"
    b'\r\n+QIURC: "recv",0,3\r\n\r\n>\r\n'  # a direct-push payload that looks like line ends and a prompt
    b'\r\n+QIURC: "closed",0\r\n'
    b"\r\nOK"
)
EXPECTED = [("echo", "AT+QIRD=0,1500"), ("line", "+QIRD: 5"), ("data", "test1"), ("line", "OK"),
            ("line", '+QIURC: "recv",0,3'), ("data", "\r\n>"), ("line", '+QIURC: "closed",0')]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.sets(st.integers(min_value=1, max_value=len(STREAM) - 1), max_size=12))
def test_every_split_across_reads_parses_the_same(cuts: set[int]) -> None:
    responder = Responder(echo=False)
    try:
        with Link.open(responder.path) as link:
            session = Session(link, dialects.get("bg96"))
            session.send_command("AT+QIRD=0,1500")
            tokens: list[Token] = []
            bounds = [0, *sorted(cuts), len(STREAM)]
            for a, b in itertools.pairwise(bounds):
                responder.write(STREAM[a:b])
                assert link.wait_for_size(b, _soon())  # this chunk arrived as a read of its own
                while (tok := session.next_token(time.monotonic_ns())) is not None:
                    tokens.append(tok)
            # the final "OK" has no line end: it becomes a line (marked as a deviation) once the module is quiet
            if not tokens or tokens[-1].text != "OK":
                assert session.unconsumed() == b"OK"
                tokens.append(session.next_token(_soon()))
            assert [(t.kind, t.text) for t in tokens] == [*EXPECTED, ("line", "OK")]
            assert "without its line end" in tokens[-1].deviation
            consumed = b"".join(link.data(t.start, t.end) for t in tokens)
            assert all(t.raw == link.data(t.start, t.end) for t in tokens)
            assert len(consumed) <= len(STREAM)
    finally:
        responder.close()


# The switch into transparent data mode: CONNECT's CR and LF may arrive in different reads (over socket://, pyserial
# reports a byte or two at a time); the LF is the line's, and the data that follows starts with a LF of its own.
DATA_MODE_STREAM = b"ATO\r" + b"\r\nCONNECT\r\n" + b"\nPAYLOAD\r\n\x00\xff+"
DATA_MODE_PAYLOAD = b"\nPAYLOAD\r\n\x00\xff+"

# A prompt, the echo of the data sent after it (AT+QISDE=1), and the result.
PROMPT_STREAM = b"AT+QISEND=0,4\r" + b"\r\n> " + b"\ntst" + b"\r\nSEND OK\r\n"
PROMPT_EXPECTED = [("echo", "AT+QISEND=0,4"), ("prompt", ">"), ("echo", "\ntst"), ("line", "SEND OK")]


def _split_writes(stream: bytes, cuts: set[int]) -> list[bytes]:
    bounds = [0, *sorted(cuts), len(stream)]
    return [stream[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.sets(st.integers(min_value=1, max_value=len(DATA_MODE_STREAM) - 1), max_size=8))
def test_every_split_into_data_mode_leaves_the_payload_whole(cuts: set[int]) -> None:
    responder = Responder(echo=False)
    try:
        with Link.open(responder.path) as link:
            session = Session(link, dialects.get("bg96"))
            session.send_command("ATO")
            tokens: list[Token] = []
            for chunk in _split_writes(DATA_MODE_STREAM, cuts):
                before = link.size
                responder.write(chunk)
                assert link.wait_for_size(before + len(chunk), _soon())
                while session.mode == "command" and (tok := session.next_token(time.monotonic_ns())) is not None:
                    tokens.append(tok)
            assert [(t.kind, t.text) for t in tokens] == [("echo", "ATO"), ("line", "CONNECT")]
            data = session.read_data(len(DATA_MODE_PAYLOAD), _soon())
            assert data is not None and data.raw == DATA_MODE_PAYLOAD
    finally:
        responder.close()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.sets(st.integers(min_value=1, max_value=len(PROMPT_STREAM) - 1), max_size=8))
def test_every_split_around_a_prompt_parses_the_same(cuts: set[int]) -> None:
    responder = Responder(echo=False)
    try:
        with Link.open(responder.path) as link:
            session = Session(link, dialects.get("bg96"))
            session.send_command("AT+QISEND=0,4")
            tokens: list[Token] = []
            for chunk in _split_writes(PROMPT_STREAM, cuts):
                before = link.size
                responder.write(chunk)
                assert link.wait_for_size(before + len(chunk), _soon())
                while (tok := session.next_token(time.monotonic_ns())) is not None:
                    tokens.append(tok)
                    if tok.kind == "prompt":
                        session.send_data(b"\ntst")
            assert [(t.kind, t.text) for t in tokens] == PROMPT_EXPECTED
    finally:
        responder.close()


# -- URCs with their data inline (BC660K "recv", M95 IPD) ------------------------------------------------------------

INLINE_STREAM = (b'\r\n+QIURC: "recv",0,6,"ab\r\ncd"\r\n'  # text with a CR LF of its own
                 b'\r\n+QIURC: "recv",1,2,"0D0A"\r\n'  # hex: two digits a byte
                 b'\r\n+QIURC: "recv",2,4,"10.0.0.1",5000,"t\x00\xff\x22"\r\n'  # UDP SERVICE, with the sender
                 b"\r\nOK\r\n")
INLINE_EXPECTED = [("line", '+QIURC: "recv",0,6,"ab\r\ncd"'), ("line", '+QIURC: "recv",1,2,"0D0A"'),
                   ("line", '+QIURC: "recv",2,4,"10.0.0.1",5000,"t\x00\xff\x22"'), ("line", "OK")]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.sets(st.integers(min_value=1, max_value=len(INLINE_STREAM) - 1), max_size=10))
def test_every_split_of_inline_data_urcs_frames_them_by_their_length(cuts: set[int]) -> None:
    responder = Responder(echo=False)
    try:
        with Link.open(responder.path) as link:
            session = Session(link, dialects.get("bc660k"))
            tokens: list[Token] = []
            for chunk in _split_writes(INLINE_STREAM, cuts):
                before = link.size
                responder.write(chunk)
                assert link.wait_for_size(before + len(chunk), _soon())
                while (tok := session.next_token(time.monotonic_ns())) is not None:
                    tokens.append(tok)
            assert [(t.kind, t.text) for t in tokens] == INLINE_EXPECTED
            assert all(session.dialect.is_unsolicited(t.text) for t in tokens[:3])
    finally:
        responder.close()


def test_an_ipd_header_frames_data_with_no_line_end_after_it(responder: Responder, link: Link) -> None:
    session = Session(link, dialects.get("m95"))
    responder.write(b"\r\nIPD5TCP:he\r\nl", b"\r\nOK\r\n")
    got = [session.next_token(_soon()) for _ in range(2)]
    assert [(t.kind, t.text) for t in got if t] == [("line", "IPD5TCP:he\r\nl"), ("line", "OK")]


def test_looking_ahead_keeps_a_data_header_before_its_payload(session: Session, responder: Responder) -> None:
    # a URC window looks ahead while the answer to AT+QIRD is already in: header, payload, OK stay in that order
    responder.write(b'\r\n+QIURC: "recv",0\r\n', b"\r\n+QIRD: 4\r\ntest\r\n\r\nOK\r\n")
    assert session.link.wait_for_size(len(b'\r\n+QIURC: "recv",0\r\n\r\n+QIRD: 4\r\ntest\r\n\r\nOK\r\n'), _soon())
    ahead = session.look_ahead()
    assert [(t.kind, t.text) for t in ahead] == [("line", '+QIURC: "recv",0'), ("line", "+QIRD: 4"),
                                                ("data", "test"), ("line", "OK")]
