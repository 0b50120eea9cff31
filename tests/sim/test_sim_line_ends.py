"""The LF of a host's CR LF is part of the line end in every mode (issue: many host drivers end commands with CR LF).

After a command that opens a prompt or data mode, the LF must not become the first data byte nor corrupt the next
command; an LF the host sends after it has seen the prompt is data. Each test drives the real pty with pyserial.
"""

from __future__ import annotations

import time

import pytest

from conformance.sim import launch


def send_fixed(online, payload: bytes, line_end: bytes = b"\r\n") -> bytes:
    online.write(b"AT+QISEND=0,%d" % len(payload) + line_end)
    online.read_until(b"\r\n> ")
    online.write(payload)
    return online.read_until(b"SEND OK\r\n")


def test_fixed_length_send_after_cr_lf_carries_exactly_the_payload(online, listener, kit):
    kit.open_tcp(online, listener.port)
    peer = listener.accept()
    online.ok("AT+QISDE=0")
    send_fixed(online, b"hello")
    assert peer.wait_for(b"hello") == b"hello"  # not "\nhell", with "o" left over as a command
    online.write(b"AT\r\n")
    assert online.read_until(kit.FINAL) == b"\r\nOK\r\n"  # the next command is intact
    assert bytes(peer.received) == b"hello"


def test_a_payload_starting_with_lf_sent_after_the_prompt_is_data(online, listener, kit):
    kit.open_tcp(online, listener.port)
    peer = listener.accept()
    online.ok("AT+QISDE=0")
    send_fixed(online, b"\nabc")  # CR LF line end, then the prompt, then a payload whose first byte is 0x0A
    send_fixed(online, b"\ndef", line_end=b"\r")  # CR alone: the same
    assert peer.wait_for(b"\nabc\ndef") == b"\nabc\ndef"


def test_cr_and_lf_in_separate_writes_before_the_prompt(online, listener, kit):
    kit.open_tcp(online, listener.port)
    peer = listener.accept()
    online.ok("AT+QISDE=0")
    online.ok('AT+QICSGP=2,1,""')
    online.sim.control("configure", activation_delay_s=0.5)
    online.write(b"AT+QIACT=2\r")  # the module is busy for 0.5 s: what follows waits, with its arrival time
    online.write(b"AT+QISEND=0,3\r")
    online.write(b"\n")  # a write of its own, before the prompt could be written: still the line end
    online.read_until(b"\r\n> ")
    online.write(b"xyz")
    online.read_until(b"SEND OK\r\n")
    assert peer.wait_for(b"xyz") == b"xyz"


def test_variable_length_send_after_cr_lf(online, listener, kit):
    kit.open_tcp(online, listener.port)
    peer = listener.accept()
    online.write(b"AT+QISEND=0\r\n")
    online.read_until(b"\r\n> ")
    online.write(b"text\x1a")
    assert online.read_until(b"SEND OK\r\n") == b"text\r\nSEND OK\r\n"  # the echo holds no LF either
    assert peer.wait_for(b"text") == b"text"


def test_entering_data_mode_after_cr_lf(online, listener, kit):
    online.write(f'AT+QIOPEN=1,0,"TCP","127.0.0.1",{listener.port},0,2\r\n'.encode())
    assert online.read_until(kit.FINAL).endswith(b"\r\nCONNECT\r\n")
    peer = listener.accept()
    online.write(b"data")
    assert peer.wait_for(b"data") == b"data"  # the LF that ended AT+QIOPEN did not go to the peer
    time.sleep(1.2)  # the guard time before "+++" is the protocol (§1.2)
    online.write(b"+++")
    assert online.read_until(kit.FINAL, timeout=4) == b"\r\nOK\r\n"
    online.write(b"ATO\r\n")
    assert online.read_until(kit.FINAL) == b"\r\nCONNECT\r\n"
    online.write(b"more")
    assert peer.wait_for(b"datamore") == b"datamore"  # nor did the LF of ATO


def test_the_lf_rule_holds_when_the_prompt_comes_late():
    # Under the realistic profile the prompt takes a few ms: an LF arriving before it is still the line end.
    config = {"timing": "realistic", "seed": 3, "dns_servers": ["127.0.0.1"]}
    from conftest import Listener, Modem  # the tests folder is on sys.path under pytest

    with launch("bg96", config=config) as sim:
        modem = Modem(sim)
        lst = Listener()
        try:
            modem.ok("ATE0")
            modem.ok("AT+QIACT=1", timeout=5)
            modem.ok(f'AT+QIOPEN=1,0,"TCP","127.0.0.1",{lst.port},0,0')
            modem.read_until(b"+QIOPEN: 0,0\r\n", timeout=5)
            peer = lst.accept()
            modem.ok("AT+QISDE=0")
            for _ in range(5):
                send_fixed(modem, b"\n12")
            assert peer.wait_for(b"\n12" * 5) == b"\n12" * 5
        finally:
            lst.close()
            modem.close()


@pytest.mark.parametrize("line_end", [b"\r", b"\r\n"])
def test_fixed_length_send_of_every_byte_value(online, listener, kit, line_end):
    kit.open_tcp(online, listener.port)
    peer = listener.accept()
    online.ok("AT+QISDE=0")
    data = bytes(range(256))[::-1]  # starts with 0xFF, holds 0x0A and 0x0D
    send_fixed(online, data, line_end)
    assert peer.wait_for(data) == data
