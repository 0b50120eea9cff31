"""Transparent access mode (§1.2, §3.3): data both ways, packetizing, the escape sequence by real byte timing, ATO,
DTR, NO CARRIER. The guard-time tests wait real seconds: that is the protocol (§1.2 item 4)."""

from __future__ import annotations

import socket
import time

import pytest

GUARD = 1.0  # §1.2 item 4, as the dialect data has it


def enter_data_mode(online, listener, kit):
    kit.open_tcp(online, listener.port, access_mode=2)
    return listener.accept()


def test_data_both_ways_then_escape_with_correct_guards(online, listener, kit):
    peer = enter_data_mode(online, listener, kit)
    online.write(b"hello+world")
    assert peer.wait_for(b"hello+world") == b"hello+world"  # sent after transwaittm (200 ms)
    peer.conn.sendall(b"Test 1")
    assert online.read_until(b"Test 1") == b"Test 1"  # §3.3.3: raw, no URC
    time.sleep(GUARD + 0.2)  # silence before
    online.write(b"+++")
    started = time.monotonic()
    assert online.read_until(b"\r\nOK\r\n", timeout=3) == b"\r\nOK\r\n"
    assert time.monotonic() - started >= GUARD - 0.05  # OK only after the silence after
    assert kit.socket_state(online, 0)["access_mode"] == 0  # §1.2 item 3: buffer access mode now
    assert online.ok("AT+QISTATE=1,0").count(b",2,1,0,0,") == 1  # still connected
    assert bytes(peer.received) == b"hello+world"  # no '+' reached the peer
    peer.conn.sendall(b"later")
    online.read_until(b'+QIURC: "recv",0\r\n')
    assert online.cmd("ATO") == b"\r\nCONNECT\r\n"  # §1.2 item 5: back to the same connection
    assert online.read_until(b"later") == b"later"  # what was buffered meanwhile comes first
    online.write(b"again")
    assert peer.wait_for(b"again").endswith(b"again")
    peer.close()
    assert online.read_until(b"\r\nNO CARRIER\r\n") == b"\r\nNO CARRIER\r\n"  # §1.2 note 2
    assert online.cmd("ATO") == b"\r\nNO CARRIER\r\n"
    assert online.ok("AT+QICLOSE=0") == b"\r\nOK\r\n"


def test_short_guard_makes_the_sequence_data(online, listener, kit):
    peer = enter_data_mode(online, listener, kit)
    online.write(b"abc")
    peer.wait_for(b"abc")
    time.sleep(0.5)  # too short a guard before
    online.write(b"+++")
    assert peer.wait_for(b"abc+++") == b"abc+++"  # the '+' went to the peer as data
    assert kit.state(online)["mode"] == "data"
    online.write(b"x+++y")  # inside the stream: data
    assert peer.wait_for(b"abc+++x+++y") == b"abc+++x+++y"
    assert kit.state(online)["mode"] == "data"


def test_packets_follow_transpktsize_and_transwaittm(online, kit):
    online.ok('AT+QICFG="transpktsize",5')
    online.ok('AT+QICFG="transwaittm",1')
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:  # datagrams show the packet boundaries
        peer.bind(("127.0.0.1", 0))
        peer.settimeout(5)
        assert online.cmd(f'AT+QIOPEN=1,0,"UDP","127.0.0.1",{peer.getsockname()[1]},0,2') == b"\r\nCONNECT\r\n"
        online.write(b"0123456789ab")
        assert [peer.recv(100) for _ in range(3)] == [b"01234", b"56789", b"ab"]  # "ab" after 100 ms


def test_dtr_with_and_d1_leaves_data_mode(online, listener, kit):
    online.ok("AT&D1")
    peer = enter_data_mode(online, listener, kit)
    online.sim.control("dtr", level=False)
    assert online.read_until(b"\r\nOK\r\n") == b"\r\nOK\r\n"
    online.sim.control("dtr", level=True)
    assert kit.state(online)["mode"] == "command"
    assert b",2,1,0,0," in online.ok("AT+QISTATE=1,0")  # the connection stays
    assert not peer.closed.is_set()


def test_dtr_with_and_d0_is_ignored(online, listener, kit):
    online.ok("AT&D0")
    peer = enter_data_mode(online, listener, kit)
    online.sim.control("dtr", level=False)
    online.sim.control("dtr", level=True)
    online.write(b"still data")
    assert peer.wait_for(b"still data") == b"still data"
    assert kit.state(online)["mode"] == "data"


def test_dtr_with_and_d2_clears_the_connection(online, listener, kit):
    online.ok("AT&D2")
    peer = enter_data_mode(online, listener, kit)
    online.write(b"flushed")
    online.sim.control("dtr", level=False)
    assert online.read_until(b"\r\nNO CARRIER\r\n") == b"\r\nNO CARRIER\r\n"
    peer.wait_closed()
    assert bytes(peer.received) == b"flushed"  # an orderly clear-down: gathered data first, then FIN
    assert online.ok("AT+QISTATE") == b"\r\nOK\r\n"


@pytest.mark.parametrize("service", ["UDP SERVICE"])
def test_udp_service_in_transparent_mode_answers_the_last_sender(online, service):
    assert online.cmd(f'AT+QIOPEN=1,2,"{service}","127.0.0.1",0,0,2') == b"\r\nCONNECT\r\n"
    port = online.sim.control("state")["sockets"][0]["local_port"]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.settimeout(5)
        peer.sendto(b"ping", ("127.0.0.1", port))
        assert online.read_until(b"ping") == b"ping"
        online.write(b"pong")
        assert peer.recv(10) == b"pong"
