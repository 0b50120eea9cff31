"""TCP peers driven by plain sockets standing in for the module: echo, sink, talker, closer, stall."""

from __future__ import annotations

import fcntl
import select
import socket
import struct
import threading
import time

import pytest

from conformance.errors import ActionFailed

SIOCOUTQ = 0x5411  # <linux/sockios.h>: bytes in the send queue not yet acknowledged


def unacked(sock: socket.socket) -> int:
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), SIOCOUTQ, b"\0" * 4))[0]


def dial(peer: object) -> socket.socket:
    sock = socket.create_connection((peer.host, peer.port), timeout=3)  # type: ignore[attr-defined]
    return sock


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def test_echo_sends_back_and_records_byte_exact(loopback_peer, act) -> None:
    echo = loopback_peer("tcp_echo")
    with dial(echo) as module:
        module.sendall(b"test")
        assert recv_exactly(module, 4) == b"test"
        assert act(echo, "received", b"test") == "4 bytes as expected"
        module.sendall(b"\x00\xff\x1a")
        act(echo, "received", b"\x00\xff\x1a")  # only what came since the previous check
        arrivals = echo.recorder.arrivals()
        assert [a.conn for a in arrivals] == [1, 1]
        assert arrivals[0].source == module.getsockname()
        assert arrivals[0].t_ns <= arrivals[1].t_ns <= time.monotonic_ns()


def test_received_fails_on_wrong_short_or_extra_bytes(loopback_peer, act) -> None:
    sink = loopback_peer("tcp_sink")
    with dial(sink) as module:
        module.sendall(b"tesT")
        with pytest.raises(ActionFailed, match=r"tcp_sink received: .*b'test'.*b'tesT'.*first difference at byte 3"):
            act(sink, "received", b"test")
        module.sendall(b"ab")
        with pytest.raises(ActionFailed, match=r"expected 3 bytes b'abc', received 2 by the deadline: b'ab'"):
            act(sink, "received", b"abc", within=0.2)
        module.sendall(b"xyz")
        assert sink.wait_for(lambda: sink.recorder.size == 9, time.monotonic() + 2)
        with pytest.raises(ActionFailed, match=r"expected 2 bytes b'xy', received 1 more: b'xyz'"):
            act(sink, "received", b"xy")


def test_sink_never_answers_and_counts_2501_bytes(loopback_peer, act) -> None:
    sink = loopback_peer("tcp_sink")
    payload = bytes(i % 251 for i in range(2501))
    with dial(sink) as module:
        module.sendall(payload)
        assert act(sink, "received_count", 2501) == "2501 bytes"
        readable, _, _ = select.select([module], [], [], 0.2)
        assert not readable
    with pytest.raises(ActionFailed, match="expected 2502 bytes in this case, received 2501"):
        act(sink, "received_count", 2502, within=0.1)


@pytest.mark.parametrize("payload", [bytes(range(36)), bytes(i % 256 for i in range(2501)), b"CLOSED\r\n"])
def test_talker_sends_scripted_bytes_on_cue(loopback_peer, act, payload: bytes) -> None:
    talker = loopback_peer("tcp_talker")
    with dial(talker) as module:
        assert act(talker, "send", payload) == f"sent {len(payload)} bytes on connection 1"
        assert recv_exactly(module, len(payload)) == payload


def test_talker_sends_in_pieces_with_gaps(loopback_peer, act) -> None:
    talker = loopback_peer("tcp_talker")
    with dial(talker) as module:
        act(talker, "accept")
        reads: list[tuple[float, bytes]] = []

        def read() -> None:
            while sum(len(d) for _, d in reads) < 20:
                data = module.recv(100)
                reads.append((time.monotonic(), data))

        reader = threading.Thread(target=read)
        reader.start()
        assert act(talker, "send", b"a" * 10 + b"b" * 10, "pieces", 10, "gap", 0.3).endswith("in 2 pieces")
        reader.join(timeout=3)
        assert [d for _, d in reads] == [b"a" * 10, b"b" * 10]
        assert reads[1][0] - reads[0][0] >= 0.25


def test_send_waits_for_a_connection_and_fails_without_one(loopback_peer, act) -> None:
    talker = loopback_peer("tcp_talker")
    with pytest.raises(ActionFailed, match=r"no open connection by the deadline \(connections this case: none\)"):
        act(talker, "send", b"x", within=0.1)


def test_closer_closes_with_fin(loopback_peer, act) -> None:
    closer = loopback_peer("tcp_closer")
    with dial(closer) as module:
        assert act(closer, "close") == "closed connection 1 (FIN)"
        assert module.recv(10) == b""


def test_closer_resets_with_rst(loopback_peer, act) -> None:
    closer = loopback_peer("tcp_closer")
    with dial(closer) as module:
        assert act(closer, "reset") == "reset connection 1 (RST)"
        module.settimeout(3)
        with pytest.raises(ConnectionResetError):
            module.recv(10)


def test_closed_tells_fin_from_rst(loopback_peer, act) -> None:
    sink = loopback_peer("tcp_sink")
    first = dial(sink)
    act(sink, "accept")
    first.close()
    assert act(sink, "closed", "fin") == "connection 1 closed by the module (FIN)"
    second = dial(sink)
    act(sink, "accept", 2)
    second.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    second.close()
    assert act(sink, "closed", "rst", 2) == "connection 2 closed by the module (RST)"
    third = dial(sink)
    act(sink, "accept", 3)
    with pytest.raises(ActionFailed, match="expected the module to close connection 3"):
        act(sink, "closed", 3, within=0.1)
    third.close()


def test_stall_stops_reading_so_the_senders_buffer_fills(loopback_peer, act) -> None:
    stall = loopback_peer("tcp_stall")
    with dial(stall) as module:
        module.setblocking(False)
        sent = 0
        try:
            while True:
                sent += module.send(b"\x55" * 4096)
        except BlockingIOError:
            pass
        assert unacked(module) > 0, "bytes stay unacknowledged once the stalled peer's window is closed"
        assert stall.recorder.size == 0
        act(stall, "resume")
        act(stall, "received_count", sent, within=5)


def test_accept_counts_connections_and_the_next_case_starts_empty(loopback_peer, act) -> None:
    echo = loopback_peer("tcp_echo")
    one, two = dial(echo), dial(echo)
    note = act(echo, "accept", 2)
    assert "connection 1 from 127.0.0.1" in note and "connection 2" in note
    one.sendall(b"a")
    act(echo, "received", b"a")
    echo.end_case()
    assert one.recv(10) in (b"", b"a")  # the case's connections are closed when it ends
    echo.begin_case()
    assert echo.recorder.size == 0 and echo.connections == []
    with pytest.raises(ActionFailed, match="expected 1 connection"):
        act(echo, "accept", within=0.1)
    one.close()
    two.close()


def test_unknown_verb_lists_the_known_ones(loopback_peer, act) -> None:
    echo = loopback_peer("tcp_echo")
    with pytest.raises(ActionFailed, match=r"tcp_echo: unknown verb 'frobnicate'; known: accept, close"):
        act(echo, "frobnicate")
