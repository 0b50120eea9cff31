"""Sending with the simulated M95: changeable length and its special characters, fixed length (every byte is data),
timed sending, AT+QISACK from the kernel's count and the 7300-byte send buffer (GSM TCP/IP Application Note §5.2;
recommended process §4)."""

from __future__ import annotations

import re
import socket
import time

import pytest


@pytest.fixture
def connected(gsm, listener):
    """A single TCP connection to a peer that reads everything."""
    gsm.ok(f'AT+QIOPEN="TCP","127.0.0.1",{listener.port}')
    gsm.read_until(b"\r\nCONNECT OK\r\n")
    return listener.accept()


def send(gsm, command: str, data: bytes) -> bytes:
    gsm.write(command.encode() + b"\r")
    assert gsm.read_until(b"\r\n> ") == b"\r\n> "  # the prompt, no line end
    gsm.write(data)
    return gsm.read_until(gsm.final)


def sack(gsm, command: str = "AT+QISACK") -> tuple[int, int, int]:
    m = re.fullmatch(rb"\r\n\+QISACK: (\d+), (\d+), (\d+)\r\n\r\nOK\r\n", gsm.ok(command))
    assert m, "AT+QISACK answer"
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def test_changeable_length_special_characters(gsm, connected):
    # recommended process §4.1: 0x08 deletes the last byte, 0x1A sends what came before
    assert send(gsm, "AT+QISEND", b"TESX\x08T\x1a") == b"\r\nSEND OK\r\n"
    assert connected.wait_for(b"TEST") == b"TEST"
    # 0x1B cancels: nothing is sent (ASSUMPTION: OK)
    assert send(gsm, "AT+QISEND", b"never\x1b") == b"\r\nOK\r\n"
    assert send(gsm, "AT+QISEND", b"\x08\x08x\x1a") == b"\r\nSEND OK\r\n"  # deleting nothing is harmless
    assert connected.wait_for(b"TESTx") == b"TESTx"
    assert sack(gsm)[0] == 5  # AN §5.2.2: the bytes handed to TCP


def test_data_beyond_1460_bytes_is_omitted(gsm, connected):
    data = bytes(0x30 + i % 10 for i in range(1500))
    assert send(gsm, "AT+QISEND", data + b"\x1a") == b"\r\nSEND OK\r\n"  # AN §3.1: "beyond 1460 will be omitted"
    assert connected.wait_for(data[:1460]) == data[:1460]
    time.sleep(0.2)
    assert bytes(connected.received) == data[:1460]


def test_fixed_length_takes_every_byte_as_data(gsm, connected):
    # recommended process §4.2 (A2): 0x08, 0x1A, 0x1B are data in a fixed-length send; all 256 values arrive
    data = bytes(range(256))
    assert send(gsm, "AT+QISEND=256", data) == b"\r\nSEND OK\r\n"
    assert connected.wait_for(data) == data
    assert send(gsm, "AT+QISEND=3", b"\x08\x1a\x1b") == b"\r\nSEND OK\r\n"
    assert connected.wait_for(data + b"\x08\x1a\x1b").endswith(b"\x08\x1a\x1b")
    assert gsm.cmd("AT+QISEND=0") == b"\r\nERROR\r\n"
    assert gsm.cmd("AT+QISEND=1461") == b"\r\nERROR\r\n"


def test_timed_sending(gsm, connected):
    gsm.ok("AT+QIAUTOS=1,1")  # AN §5.2.1.3 (1 s here; the example's 10 s)
    started = time.monotonic()
    assert send(gsm, "AT+QISEND", b"timed") == b"\r\nSEND OK\r\n"  # sent when the timer expires
    assert time.monotonic() - started >= 0.9
    assert connected.wait_for(b"timed") == b"timed"
    assert send(gsm, "AT+QISEND", b"") == b"\r\nSEND FAIL\r\n"  # nothing typed
    assert send(gsm, "AT+QISEND", b"now\x1a") == b"\r\nSEND OK\r\n"  # Ctrl+Z before the timer: at once
    assert send(gsm, "AT+QISEND=3", b"abc") == b"\r\nSEND OK\r\n"  # the length first
    assert send(gsm, "AT+QISEND=9", b"ab\x1b") == b"\r\nOK\r\n"  # ESC cancels a timed fixed-length send
    assert connected.wait_for(b"timednowabc") == b"timednowabc"


def test_mux_sends(gsm, listener):
    gsm.ok("AT+QIMUX=1")
    gsm.ok(f'AT+QIOPEN=2,"TCP","127.0.0.1",{listener.port}')
    gsm.read_until(b"2, CONNECT OK\r\n")
    peer = listener.accept()
    assert send(gsm, "AT+QISEND=2", b"one\x1a") == b"\r\nSEND OK\r\n"  # AN §5.2.1.1
    assert send(gsm, "AT+QISEND=2,3", b"two") == b"\r\nSEND OK\r\n"  # §5.2.1.2
    assert peer.wait_for(b"onetwo") == b"onetwo"
    assert sack(gsm, "AT+QISACK=2")[0] == 6
    assert gsm.cmd("AT+QISEND") == b"\r\nERROR\r\n"  # the single form in MUX mode
    assert gsm.cmd("AT+QISEND=1") == b"\r\nERROR\r\n"  # no connection on profile 1


def test_no_connection_no_send(gsm):
    assert gsm.cmd("AT+QISEND") == b"\r\nERROR\r\n"
    assert gsm.cmd("AT+QISACK") == b"\r\nERROR\r\n"


def test_qisack_follows_the_kernel_and_the_buffer_holds_7300_bytes(gsm):
    # A peer with a tiny receive window that does not read: what the module sends stays unacknowledged in its
    # kernel (SIOCOUTQ); recommended process §4.1 note 1: the send buffer holds 7300 bytes
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    try:
        gsm.ok(f'AT+QIOPEN="TCP","127.0.0.1",{srv.getsockname()[1]}')
        gsm.read_until(b"\r\nCONNECT OK\r\n")
        peer, _ = srv.accept()
        chunk = b"x" * 1460
        results = []
        for _ in range(40):
            result = send(gsm, "AT+QISEND=1460", chunk)
            results.append(result)
            if result == b"\r\nSEND FAIL\r\n":
                break
        assert results[-1] == b"\r\nSEND FAIL\r\n", "the module took more than its buffer"
        sent, acked, unacked = sack(gsm)
        assert sent == 1460 * (len(results) - 1)
        assert unacked > 7300 - 1460 and acked == sent - unacked  # the next 1460 bytes would not fit
        print(f"\nsent {sent}, acked {acked}, unacknowledged {unacked} when SEND FAIL came")
        peer.setblocking(False)
        deadline = time.monotonic() + 10
        while unacked:  # the peer reads: the kernel has everything acknowledged
            assert time.monotonic() < deadline, f"still {unacked} unacknowledged"
            try:
                while peer.recv(65536):
                    pass
            except BlockingIOError:
                pass
            sent, acked, unacked = sack(gsm)
        assert acked == sent
        peer.close()
    finally:
        srv.close()
