"""The commands every host driver sends at start-up, answered as a registered module would (3GPP TS 27.007 and the
family's AT-manual conventions; outside the TCP/IP manual's scope)."""

from __future__ import annotations

import re

import pytest


@pytest.mark.parametrize("line, answer", [
    ("AT+CFUN=1", rb"\r\nOK\r\n"),
    ("AT+CFUN?", rb"\r\n\+CFUN: 1\r\n\r\nOK\r\n"),
    ("AT+CPAS", rb"\r\n\+CPAS: 0\r\n\r\nOK\r\n"),
    ("AT+CGATT=1", rb"\r\nOK\r\n"),
    ("AT+CGATT?", rb"\r\n\+CGATT: 1\r\n\r\nOK\r\n"),
    ("AT+CTZR=1", rb"\r\nOK\r\n"),
    ("AT+CTZR?", rb"\r\n\+CTZR: 0\r\n\r\nOK\r\n"),
    ("AT+CTZU=1", rb"\r\nOK\r\n"),
    ("AT+CTZU?", rb"\r\n\+CTZU: 1\r\n\r\nOK\r\n"),
    ("AT+QCCID", rb"\r\n\+QCCID: \d{19,20}\r\n\r\nOK\r\n"),
    ("AT+CIMI", rb"\r\n\d{15}\r\n\r\nOK\r\n"),
    ("AT+COPS?", rb'\r\n\+COPS: 0,0,"[^"]+",8\r\n\r\nOK\r\n'),
    ("AT+QNWINFO", rb'\r\n\+QNWINFO: "eMTC","\d{5}","LTE BAND \d+",\d+\r\n\r\nOK\r\n'),
    ("AT+QCSQ", rb'\r\n\+QCSQ: "eMTC",-\d+,-\d+,\d+,-\d+\r\n\r\nOK\r\n'),
    ("AT+CSQ", rb"\r\n\+CSQ: \d+,\d+\r\n\r\nOK\r\n"),
    ("AT+CEREG?", rb"\r\n\+CEREG: 0,1\r\n\r\nOK\r\n"),
    ("AT+CGPADDR=1", rb"\r\n\+CGPADDR: 1\r\n\r\nOK\r\n"),  # no address while inactive (27.007 10.1.14)
    ("AT+CPIN?", rb"\r\n\+CPIN: READY\r\n\r\nOK\r\n"),
])
def test_a_registered_module_answers(modem, line, answer):
    modem.ok("ATE0")
    assert re.fullmatch(answer, modem.cmd(line)), line


def test_cfun_test_command_advertises_only_what_it_accepts(modem):
    modem.ok("ATE0")
    listed = modem.ok("AT+CFUN=?")
    assert listed == b"\r\n+CFUN: (0,1,4),(0,1)\r\n\r\nOK\r\n"
    for fun in (0, 1, 4):
        for reset in (0, 1):
            modem.write(f"AT+CFUN={fun},{reset}\r".encode())
            modem.read_until(b"\r\nOK\r\n")
            if reset:
                modem.read_until(b"APP RDY\r\n") if fun else modem.read_until(b"+CFUN: 0\r\n")
                modem.ok("ATE0")
    for bad in ("AT+CFUN=2", "AT+CFUN=1,2", "AT+CFUN=5"):
        assert modem.cmd(bad) == b"\r\nERROR\r\n", bad


def test_radio_off_drops_contexts_and_sockets_and_comes_back(online, listener, kit):
    online.ok("AT+CEREG=1")
    kit.open_tcp(online, listener.port)
    peer = listener.accept()
    assert online.ok("AT+CGPADDR=1") == b'\r\n+CGPADDR: 1,"127.0.0.1"\r\n\r\nOK\r\n'
    assert online.ok("AT+CFUN=4") == b"\r\nOK\r\n"
    assert online.read_until(b"+CEREG: 0\r\n") == b"\r\n+CEREG: 0\r\n"  # 27.007: not registered, reported
    peer.wait_closed()
    assert online.ok("AT+QIACT?") == b"\r\nOK\r\n"
    assert online.ok("AT+QISTATE") == b"\r\nOK\r\n"
    assert online.ok("AT+CEREG?") == b"\r\n+CEREG: 1,0\r\n\r\nOK\r\n"
    assert online.ok("AT+CGATT?") == b"\r\n+CGATT: 0\r\n\r\nOK\r\n"
    assert online.ok("AT+COPS?") == b"\r\n+COPS: 0\r\n\r\nOK\r\n"
    assert online.cmd("AT+CGATT=1") == b"\r\nERROR\r\n"  # no radio, no attach
    assert online.ok("AT+CFUN=1") == b"\r\nOK\r\n"
    assert online.read_until(b"+CEREG: 1\r\n") == b"\r\n+CEREG: 1\r\n"
    assert online.ok("AT+QIACT=1") == b"\r\nOK\r\n"


def test_cfun_reset_says_ok_then_the_start_up_lines(online, kit):
    online.write(b"AT+CFUN=1,1\r")
    assert online.read_until(b"APP RDY\r\n") == (b"\r\nOK\r\n\r\nRDY\r\n\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n"
                                                 b"\r\n+QIND: SMS DONE\r\n\r\nAPP RDY\r\n")
    state = kit.state(online)
    assert state["contexts"] == [] and state["echo"] is True  # power-on values again


def test_detach_drops_the_contexts(online):
    online.ok("AT+CGATT=0")
    assert online.ok("AT+QIACT?") == b"\r\nOK\r\n"
    online.ok("AT+CGATT=1")
    online.ok("AT+QIACT=1")
