"""The BC660K dialect data checked against its note's own examples: URCs, framing, identify, redaction."""
import re

import pytest

from conformance import dialects
from conformance.reports.coverage import default_documented_path, load_documented

D = dialects.get("bc660k")


def test_documented_list_matches_the_dialect():
    doc = load_documented(default_documented_path("bc660k"), "bc660k")
    assert doc.manual in D.manuals
    codes = {int(i.id.split()[-1]) for i in doc.items if i.kind == "error_code"}
    assert codes == {0} | {e.code for e in D.errors} == {0, *range(550, 575)}
    for cmd in ("+QIOPEN", "+QICLOSE", "+QISTATE", "+QISEND", "+QPING", "+QNTP", "+QIDNSGIP", "+QIDNSCFG", "+QICFG"):
        assert any(i.id.endswith(f"AT{cmd}=?") for i in doc.items), cmd
        assert D.response_time(f"AT{cmd}=?").seconds == 5


@pytest.mark.parametrize("line", [  # every URC line of the note's chapter 4
    '+QIOPEN: 0,0', '+QIURC: "recv",0,5,"220.180.239.212",8062,"12345"', '+QIURC: "incoming",1,0,"192.168.4.30",34835',
    '+QIURC: "recv",1,10,"1234567890"', '+QPING: 0,"47.100.63.174",32,560,88', '+QPING: 0,4,4,0,220,560,322',
    '+QNTP: 0,"2019/06/11,11:08:20"', '+QIDNSGIP: 0,1,0', '+QIDNSGIP: 14.215.177.39', '+QIURC: "closed",0'])
def test_note_urcs_are_urcs(line):
    assert D.is_urc(line) and D.is_unsolicited(line, "AT")


@pytest.mark.parametrize("line", ['+QPING: (0-10),<host>,(1-255),(1-10),(32-1500),(0,1)',
                                  '+QIDNSGIP: (0-10),<hostname>', '+QNTP: (0-10),<server>,(1-65535),(0,1)',
                                  '+QISTATE: 0,"TCP","220.180.239.212",8062,0,2,0,1', '+QISEND: 10,10,0'])
def test_test_and_query_answers_are_not_urcs(line):
    assert not D.is_urc(line)


@pytest.mark.parametrize("command,ends", [
    ("AT+QICLOSE=0", "CLOSE OK"), ('AT+QISEND=0,5,"12345"', "SEND OK"), ("AT+QISEND=0", "SEND FAIL"),
    ("AT+QISEND=0,5", "SEND OK"), ('AT+QISEND=0,"220.180.239.212",8196,10,"1234567890"', "SEND OK"),
    ('AT+QISEND=0,"220.180.239.212",8196', "SEND OK"), ("AT+QISEND=0,0", None), ("AT+QISEND=?", None),
    ("AT+QIOPEN=0,0,\"TCP\",\"1.2.3.4\",80,0,1", None), ("AT+QISTATE?", None)])
def test_responses_that_go_on_after_ok(command, ends):
    pattern = D.ends_after_ok(command)
    assert (pattern is None) if ends is None else pattern.fullmatch(ends) is not None


@pytest.mark.parametrize("raw,payload,is_hex", [
    (b'+QIURC: "recv",0,5,"12345"\r\n', b"12345", False),
    (b'+QIURC: "recv",0,5,"3132333435"\r\n', b"3132333435", True),
    (b'+QIURC: "recv",0,4,"a\r\n\x00"\r\n', b"a\r\n\x00", False),  # raw text: CR, LF, NUL inside
    (b'+QIURC: "recv",0,3,"a"\r"\r\n', b'a"\r', False),  # a quote and CR inside
    (b'+QIURC: "recv",0,5,"220.180.239.212",8062,"12345"\r\n', b"12345", False),
    (b'+QIURC: "recv",0,12, "220.180.239.212",8062,"012345678901"\r\n', b"012345678901", False),  # §4.1.3's typo
    (b'+QIURC: "recv",0,"1.2.3.4",80,"ab"\r\n', b"ab", False),  # length left out
    (bytes(f'+QIURC: "recv",0,256,"{bytes(range(256)).hex().upper()}"\r\n', "ascii"),
     bytes(range(256)).hex().upper().encode(), True),
    (b'+QIURC: "recv",0,256,"' + bytes(range(256)) + b'"\r\n', bytes(range(256)), False)])
def test_inline_frames(raw, payload, is_hex):
    frame = D.inline_frame(raw + b"\r\nOK\r\n")
    assert frame is not None and frame.complete and frame.hex is is_hex
    assert (raw + b"\r\nOK\r\n")[frame.payload_start:frame.payload_end] == payload
    assert frame.end == len(raw)


def test_incomplete_and_foreign_lines():
    whole = b'+QIURC: "recv",0,5,"a\r\nbc"\r\n'
    for cut in range(len(b'+QIURC: "recv",0,5,"'), len(whole) - 1):
        frame = D.inline_frame(whole[:cut])
        assert frame is not None and not frame.complete, cut
    assert D.inline_frame(b'+QIURC: "closed",0\r\n') is None
    assert D.inline_frame(b'+QIURC: "recv",0,5,"12345X\r\n') is None  # neither 5 raw bytes nor 10 hex digits
    assert D.data_length('+QIURC: "recv",0,5,"12345"') is None


def test_identify():
    lines = ["Quectel_Ltd", "Quectel_BC660K-GL", "Revision: BC660KGLAAR01A05"]
    assert any(re.fullmatch(p, line) for p in D.identify for line in lines)
    others = [dialects.get(n) for n in dialects.names() if n != "bc660k"]
    assert not any(re.fullmatch(p, line) for d in others for p in d.identify for line in lines)
    bg96_lines = ["Quectel", "BG96", "Revision: BG96MAR02A07M1G"]
    assert not any(re.fullmatch(p, line) for p in D.identify for line in bg96_lines)


def test_secrets_are_redacted():
    from conformance.plugin.modem import make_redactor
    redact = make_redactor(D, [])
    assert b"1234" not in redact(b'AT+CPIN="1234"\r')
    assert b"s3cret" not in redact(b'AT+CGAUTH=1,1,"user","s3cret"\r')
    assert b"pw" not in redact(b'AT+QMTCONN=0,"client","user","pw"\r')
