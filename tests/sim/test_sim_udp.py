"""UDP service and UDP client (§2.1.4 item 2, §2.1.7, §2.1.8, §3.6)."""

from __future__ import annotations

import re
import socket

import pytest


@pytest.fixture
def udp_peer():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(5)
    yield s
    s.close()


def open_udp_service(online, access_mode: int = 0) -> int:
    online.ok(f'AT+QIOPEN=1,2,"UDP SERVICE","127.0.0.1",0,0,{access_mode}')
    online.read_until(b"+QIOPEN: 2,0\r\n")
    m = re.search(rb'\+QISTATE: 2,"UDP SERVICE","127\.0\.0\.1",0,(\d+),2,1,2,%d,"usbmodem"' % access_mode,
                  online.ok("AT+QISTATE=0,1"))  # §3.6.1's shape
    assert m
    return int(m.group(1))


def test_udp_service_buffer_mode_as_in_section_3_6(online, udp_peer):
    port = open_udp_service(online)
    peer_port = udp_peer.getsockname()[1]
    udp_peer.sendto(b"AAAA", ("127.0.0.1", port))
    online.read_until(b'+QIURC: "recv",2\r\n')
    udp_peer.sendto(b"BB", ("127.0.0.1", port))
    assert online.ok("AT+QIRD=2") == b'\r\n+QIRD: 4,"127.0.0.1",%d\r\nAAAA\r\n\r\nOK\r\n' % peer_port  # one datagram
    assert online.ok("AT+QIRD=2") == b'\r\n+QIRD: 2,"127.0.0.1",%d\r\nBB\r\n\r\nOK\r\n' % peer_port
    assert online.ok("AT+QIRD=2") == b"\r\n+QIRD: 0\r\n\r\nOK\r\n"
    assert online.ok("AT+QIRD=2,0") == b"\r\n+QIRD: 6,6,0\r\n\r\nOK\r\n"
    online.write(b'AT+QISEND=2,10,"127.0.0.1",%d\r' % peer_port)
    online.read_until(b"\r\n> ")
    online.write(b"1234567890")
    online.read_until(b"SEND OK\r\n")
    data, source = udp_peer.recvfrom(100)
    assert data == b"1234567890" and source == ("127.0.0.1", port)
    assert online.cmd("AT+QISEND=2,10") == b"\r\nERROR\r\n"  # a UDP service needs the remote address
    assert online.cmd('AT+QISEND=2,10,"localhost",1') == b"\r\nERROR\r\n"  # dotted format only
    assert online.ok("AT+QICLOSE=2") == b"\r\nOK\r\n"


def test_udp_service_direct_push(online, udp_peer):
    port = open_udp_service(online, access_mode=1)
    udp_peer.sendto(b"AA\r\nAA", ("127.0.0.1", port))
    expected = b'\r\n+QIURC: "recv",2,6,"127.0.0.1",%d\r\nAA\r\nAA\r\n' % udp_peer.getsockname()[1]
    assert online.read_until(b"AA\r\nAA\r\n") == expected  # §2.2.2, third form


def test_udp_client(online, udp_peer):
    peer_port = udp_peer.getsockname()[1]
    online.ok(f'AT+QIOPEN=1,0,"UDP","127.0.0.1",{peer_port},0,0')
    online.read_until(b"+QIOPEN: 0,0\r\n")
    online.write(b"AT+QISEND=0,5\r")
    online.read_until(b"> ")
    online.write(b"hello")
    online.read_until(b"SEND OK\r\n")
    data, source = udp_peer.recvfrom(100)
    assert data == b"hello"
    udp_peer.sendto(b"world", source)
    online.read_until(b'+QIURC: "recv",0\r\n')
    assert online.ok("AT+QIRD=0") == b"\r\n+QIRD: 5\r\nworld\r\n\r\nOK\r\n"
    assert re.search(rb'\+QISTATE: 0,"UDP","127\.0\.0\.1",%d,%d,2,1,0,0,"usbmodem"' % (peer_port, source[1]),
                     online.ok("AT+QISTATE"))


def test_receive_data_formats(online, udp_peer):
    port = open_udp_service(online, access_mode=1)
    online.ok('AT+QICFG="dataformat",0,1')  # receive in hex
    online.ok('AT+QICFG="viewmode",1')  # header,data on one line
    udp_peer.sendto(b"\x01\xff", ("127.0.0.1", port))
    assert online.read_until(b"01FF\r\n") == (b'\r\n+QIURC: "recv",2,2,"127.0.0.1",%d,01FF\r\n'
                                              % udp_peer.getsockname()[1])
