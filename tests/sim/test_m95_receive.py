"""Receiving with the simulated M95: straight to the UART with the headers of AT+QIHEAD, AT+QISHOWRA, AT+QISHOWLA,
AT+QISHOWPT, or announced with +QIRDI and read with AT+QIRD (GSM TCP/IP Application Note §5.3; recommended process
§5)."""

from __future__ import annotations

import socket
import time

import pytest


def open_single(gsm, listener):
    gsm.ok(f'AT+QIOPEN="TCP","127.0.0.1",{listener.port}')
    gsm.read_until(b"\r\nCONNECT OK\r\n")
    return listener.accept()


@pytest.mark.parametrize("settings, header", [
    ((), b""),  # §5.3.1: "without any information"
    (("QIHEAD",), b"\r\nIPD4:"),
    (("QIHEAD", "QISHOWPT"), b"\r\nIPD4TCP:"),  # AN §5.3.1, recommended process §5.1
    (("QISHOWPT",), b""),  # "invalid if AT+QIHEAD=0"
    (("QISHOWRA",), b"\r\nRECV FROM:127.0.0.1:{port}\r\n"),
    (("QISHOWRA", "QISHOWLA", "QIHEAD", "QISHOWPT"), b"\r\nRECV FROM:127.0.0.1:{port}\r\nTO:127.0.0.1\r\nIPD4TCP:"),
])
def test_headers_of_received_data(gsm, listener, settings, header):
    for name in settings:
        gsm.ok(f"AT+{name}=1")
    peer = open_single(gsm, listener)
    peer.conn.sendall(b"ab\r\n")  # any byte, a line end included; nothing follows the data
    port = peer.conn.getsockname()[1]
    expected = header.replace(b"{port}", str(port).encode()) + b"ab\r\n"
    assert gsm.read_until(b"ab\r\n") == expected
    assert gsm.ok("AT") == b"\r\nOK\r\n"


def test_mux_receive_header(gsm, listener):
    gsm.ok("AT+QIMUX=1")
    gsm.ok("AT+QISHOWRA=1")
    gsm.ok("AT+QIHEAD=1")  # changes nothing in MUX mode (A21)
    gsm.ok(f'AT+QIOPEN=4,"TCP","127.0.0.1",{listener.port}')
    gsm.read_until(b"4, CONNECT OK\r\n")
    peer = listener.accept()
    peer.conn.sendall(b"Welcome")
    port = peer.conn.getsockname()[1]
    assert gsm.read_until(b"Welcome") == f"\r\nRECV FROM:127.0.0.1:{port}\r\n+RECEIVE: 4, 7\r\nWelcome".encode()


def test_qindi_announces_and_qird_reads(gsm, listener):
    gsm.ok("AT+QINDI=1")  # before the connection (AN §5.3.2)
    peer = open_single(gsm, listener)
    data = b"1234567890abcdefghijklmnopqrstuvwxyz"
    peer.conn.sendall(data)
    assert gsm.read_until(b"\r\n+QIRDI: 0,1,0\r\n") == b"\r\n+QIRDI: 0,1,0\r\n"
    peer.conn.sendall(b"more")
    port = peer.conn.getsockname()[1]
    response = gsm.ok("AT+QIRD=0,1,0,10")
    assert response == f"\r\n+QIRD: 127.0.0.1:{port},TCP,10\r\n".encode() + data[:10] + b"\r\n\r\nOK\r\n"
    response = gsm.ok("AT+QIRD=0,1,0,1500")
    assert response.endswith(data[10:] + b"more\r\n\r\nOK\r\n") or response.endswith(data[10:] + b"\r\n\r\nOK\r\n")
    while gsm.ok("AT+QIRD=0,1,0,1500") != b"\r\nOK\r\n":  # read empty: OK alone
        pass
    peer.conn.sendall(b"again")
    assert gsm.read_until(b"\r\n+QIRDI: 0,1,0\r\n")  # announced again once read empty
    assert gsm.cmd("AT+QIRD=0,2,0,1500") == b"\r\nERROR\r\n"  # no server connection
    assert gsm.cmd("AT+QIRD=0,1,0,0") == b"\r\nERROR\r\n"


def test_qird_after_the_peer_closed(gsm, listener):
    gsm.ok("AT+QINDI=1")
    peer = open_single(gsm, listener)
    peer.conn.sendall(b"last words")
    gsm.read_until(b"+QIRDI: 0,1,0\r\n")
    peer.close()
    gsm.read_until(b"\r\nCLOSED\r\n")
    assert gsm.ok("AT+QIRD=0,1,0,1500").endswith(b",TCP,10\r\nlast words\r\n\r\nOK\r\n")  # still readable
    assert gsm.cmd("AT+QIRD=0,1,0,1500") == b"\r\nERROR\r\n"  # then gone


def test_qird_reads_a_udp_datagram_at_a_time(gsm):
    gsm.ok("AT+QINDI=1")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.bind(("127.0.0.1", 0))
        port = peer.getsockname()[1]
        gsm.ok(f'AT+QIOPEN="UDP","127.0.0.1",{port}')
        gsm.read_until(b"CONNECT OK\r\n")
        gsm.write(b"AT+QISEND=1\r")
        gsm.read_until(b"> ")
        gsm.write(b"?")
        gsm.read_until(b"SEND OK\r\n")
        _, module = peer.recvfrom(10)
        peer.sendto(b"one", module)
        peer.sendto(b"two", module)
        gsm.read_until(b"+QIRDI: 0,1,0\r\n")
        assert gsm.ok("AT+QIRD=0,1,0,1500") == f"\r\n+QIRD: 127.0.0.1:{port},UDP,3\r\none\r\n\r\nOK\r\n".encode()


def test_received_data_does_not_split_a_command_being_typed(gsm, listener):
    peer = open_single(gsm, listener)
    gsm.ok("ATE1")
    gsm.write(b"AT+QIS")
    peer.conn.sendall(b"DATA")
    time.sleep(0.05)  # the host is still typing (less than 100 ms between its bytes)
    gsm.write(b"TAT\r")
    # recommended process §5.1 note: the data may come between the command and its response, not inside the command
    out = gsm.read_until(b"DATA")
    assert out.startswith(b"AT+QISTAT\r"), out
    assert out.endswith(b"\r\nSTATE: CONNECT OK\r\nDATA")
    gsm.write(b"AT")  # a line left unfinished: the data waits for 100 ms of silence, then comes
    assert gsm.read_until(b"AT") == b"AT"
    peer.conn.sendall(b"LATER")
    assert gsm.read_until(b"LATER", timeout=2) == b"LATER"
    gsm.write(b"\r")
    assert gsm.read_until(b"OK\r\n") == b"\r\r\nOK\r\n"
