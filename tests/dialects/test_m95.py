"""The M95 family's dialect data: what the session, the matcher and the reports get from it."""

from __future__ import annotations

import re

import pytest

from conformance import dialects
from conformance.dialects import m95 as m95_data
from conformance.plugin.modem import make_redactor


@pytest.fixture(scope="module")
def m95() -> dialects.Dialect:
    return dialects.get("m95")


def test_registered_and_detected_from_ati(m95):
    assert "m95" in dialects.names()
    for line in ("Quectel_M95", "M66", "Quectel_MC60", "Revision: M95FAR02A08"):
        assert any(re.fullmatch(p, line) for p in m95.identify), line
    for other in ("Quectel_BG96", "BC660K-GL", "Revision: BG96MAR02A07M1G"):
        assert not any(re.fullmatch(p, other) for p in m95.identify), other


@pytest.mark.parametrize("line", ["OK", "ERROR", "CONNECT OK", "0, CONNECT OK", "3, CONNECT FAIL", "ALREADY CONNECT",
                                  "CLOSE OK", "0, CLOSE OK", "DEACT OK", "SEND OK", "SEND FAIL", "SERVER OK",
                                  "CONNECT", "+CME ERROR: 3"])
def test_results_that_end_a_command(m95, line):
    assert m95.is_final(line)


@pytest.mark.parametrize("line", ["STATE: CONNECT OK", "CLOSED", "+QISACK: 30, 20, 10", "CONNECT OK 1"])
def test_lines_that_do_not_end_a_command(m95, line):
    assert not m95.is_final(line)


def test_only_connect_enters_data_mode(m95):
    assert m95.enters_data_mode("CONNECT")
    assert not m95.enters_data_mode("CONNECT OK") and not m95.enters_data_mode("0, CONNECT OK")


@pytest.mark.parametrize("command, after_ok, ends", [
    ('AT+QIOPEN="TCP","124.79.167.121",7007', "OK", "CONNECT OK"),
    ('AT+QIOPEN=0,"TCP","124.79.167.121",7007', "OK", "0, CONNECT OK"),
    ('AT+QIOPEN="TCP","220.180.239.212","8063"', "OK", "CONNECT FAIL"),
    ('AT+QIOPEN="TCP","220.180.239.212","8063"', "OK", "CONNECT"),
    ("AT+QISERVER=0,3", "OK", "SERVER OK"),
    ("AT+QISTAT", "OK", "STATE: IP INITIAL"),
    ("AT+QISTATE", "OK", '+QISTATE: 5,"", "", "INITIAL"'),
    ("AT+QISSTAT", "OK", "S: LISTENNING"),
    ('AT+QIDNSGIP="www.google.com"', "OK", "64.233.189.99"),
])
def test_responses_that_go_on_after_ok(m95, command, after_ok, ends):
    pattern = m95.ends_after_ok(command)
    assert pattern is not None and pattern.fullmatch(ends)
    assert not pattern.fullmatch(after_ok)


def test_test_forms_end_at_ok(m95):
    assert m95.ends_after_ok("AT+QIOPEN=?") is None
    assert m95.ends_after_ok('+QISTATE: 0,"", "", "INITIAL"') is None


def test_qilocip_answers_its_address_alone(m95):
    pattern = m95.bare_result("AT+QILOCIP")
    assert pattern is not None and pattern.fullmatch("10.180.217.206")
    assert m95.bare_result("AT+QIACT") is None


@pytest.mark.parametrize("line, command", [
    ("CLOSED", ""), ("0, CLOSED", ""), ("+PDP DEACT", ""), ("REMOTE IP: 10.79.141.26", ""),
    ("0, REMOTE IP: 10.79.141.26", ""), ("+QIRDI: 0,1,0", "AT+QIRD=0,1,0,1500"), ("+QIRDI:0,1,0", ""),
    ("Call Ready", ""), ("RING", "AT+QISACK"), ("+CREG: 1", "AT+QISACK"), ("+CPIN: READY", "AT+QIOPEN"),
])
def test_unsolicited_lines(m95, line, command):
    assert m95.is_unsolicited(line, command)


@pytest.mark.parametrize("line, command", [
    ("+CREG: 0,1", "AT+CREG?"), ("+CPIN: READY", "AT+CPIN?"), ("+QISACK: 4,4,0", "AT+QISACK"),
    ("STATE: IP INITIAL", "AT+QISTAT"), ("+QIRD: 1.2.3.4:7070,TCP,36", "AT+QIRD=0,1,0,1500"), ("TCP: 2020", ""),
])
def test_answers_are_not_unsolicited(m95, line, command):
    assert not m95.is_unsolicited(line, command)


def test_data_header_lines(m95):
    assert m95.data_length("+RECEIVE: 0, 30") == 30
    assert m95.data_length("+QIRD: 220.180.239.212:8063,TCP,36") == 36
    assert m95.data_length("+QIRD:116.228.146.250:7070,TCP,36") == 36  # the application note's spelling
    assert m95.data_length("IPD36TCP:") is None  # not a line: the payload follows on it


def test_ipd_payload_is_framed_by_its_length_whatever_it_holds(m95):
    data = b"IPD8TCP:a\r\nOK\r\nb" + b"\r\nOK\r\n"
    frame = m95.inline_frame(data)
    assert frame is not None and frame.complete
    assert data[frame.payload_start:frame.payload_end] == b"a\r\nOK\r\nb"
    assert data[frame.end:] == b"\r\nOK\r\n"
    assert m95.inline_frame(b"IPD30:Welcome") is not None and not m95.inline_frame(b"IPD30:Welcome").complete
    whole = m95.inline_frame(b"IPD5UDP:hello")
    assert whole is not None and whole.complete and whole.payload_start == 8
    assert m95.inline_frame(b"IPDX:hello\r\n") is None
    assert m95.inline_frame(b"RECV FROM:1.2.3.4:7070\r\n") is None


@pytest.mark.parametrize("settings, expected", [
    ({}, b""),
    ({"qihead": True}, b"IPD30:"),
    ({"qihead": True, "qishowpt": True}, b"IPD30TCP:"),
    ({"qishowpt": True}, b""),  # no effect without AT+QIHEAD=1
    ({"qihead": True, "qishowpt": True, "qishowra": True},
     b"RECV FROM:220.180.239.212:8063\r\nIPD30TCP:"),
    ({"qishowra": True, "qishowla": True}, b"RECV FROM:220.180.239.212:8063\r\nTO:10.7.3.2\r\n"),
    ({"mux_index": 0, "qihead": True, "qishowpt": True}, b"+RECEIVE: 0, 30\r\n"),
])
def test_receive_prefix(m95, settings, expected):
    args = {"length": 30, "protocol": "TCP", "remote": ("220.180.239.212", 8063), "local": "10.7.3.2",
            "mux_index": None, "qihead": False, "qishowra": False, "qishowla": False, "qishowpt": False, **settings}
    prefix = m95_data.receive_prefix(**args)
    assert prefix == expected
    if prefix.startswith(b"IPD") or b"\nIPD" in prefix:  # what the module writes, the dialect frames
        start = prefix.rfind(b"IPD")
        frame = m95.inline_frame(prefix[start:] + b"x" * 30)
        assert frame is not None and frame.complete and frame.payload_end - frame.payload_start == 30


def test_escape_rules(m95):
    rules = m95.escape
    assert rules is not None
    assert (rules.sequence, rules.guard_before_s, rules.guard_after_s, rules.max_gap_s) == (b"+++", 0.5, 0.5, 0.02)


def test_revisions(m95):
    older = m95.with_revision("V1.1")
    assert older.revision == "V1.1" and older.response_time("AT+QIACT").seconds == 180
    assert m95.response_time("AT+QIACT").seconds == 150
    assert m95.with_revision("V2.0") is m95
    with pytest.raises(KeyError, match=re.escape("known: V1.1, V2.0")):
        m95.with_revision("V3.0")


def test_passwords_and_pins_are_redacted(m95):
    redact = make_redactor(m95, [])
    assert redact(b'AT+QICSGP=1,"CMNET","user","s3cret"\r') == b'AT+QICSGP=1,"CMNET","user","***"\r'
    assert redact(b'AT+QIREGAPP="CMNET","user","s3cret"\r') == b'AT+QIREGAPP="CMNET","user","***"\r'
    assert b"s3cret" not in redact(b'+QIREGAPP: "CMNET","user","s3cret"\r\n')
    assert redact(b'AT+CPIN="1234"\r') == b'AT+CPIN="***"\r'
    assert redact(b'AT+QICSGP=1,"CMNET"\r') == b'AT+QICSGP=1,"CMNET"\r'


def test_the_start_state_deactivates_both_contexts_before_the_settings(m95):
    commands = list(m95.reset_commands)
    for context in ("AT+QIFGCNT=1", "AT+QIFGCNT=0"):
        at = commands.index(context)
        assert commands[at + 1] == "AT+QIDEACT" and commands[at + 2] == "AT+QIMUX=0"
    assert commands.index("AT+QIFGCNT=0") > commands.index("AT+QIFGCNT=1")  # context 0 is the foreground after it
