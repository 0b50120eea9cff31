"""UDP peers and dial_in, driven by plain sockets standing in for the module's UDP SERVICE and TCP LISTENER."""

from __future__ import annotations

import socket
import struct

import pytest

from conformance.errors import ActionFailed


@pytest.fixture
def module_udp() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(3)
    yield sock
    sock.close()


@pytest.fixture
def module_listener() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.settimeout(3)
    yield sock
    sock.close()


def test_udp_echo_returns_each_datagram_and_records_its_sender(loopback_peer, act, module_udp) -> None:
    echo = loopback_peer("udp_echo")
    module_udp.sendto(b"1234567890", (echo.host, echo.port))
    data, source = module_udp.recvfrom(100)
    assert (data, source) == (b"1234567890", (echo.host, echo.port))
    port = module_udp.getsockname()[1]
    assert act(echo, "datagram", b"1234567890", port) == f"datagram 1 from 127.0.0.1:{port}, 10 bytes"


def test_udp_sink_checks_datagrams_one_by_one_and_answers_the_last_sender(loopback_peer, act, module_udp) -> None:
    sink = loopback_peer("udp_sink")
    module_udp.sendto(b"AAAA", (sink.host, sink.port))
    module_udp.sendto(b"BBBB", (sink.host, sink.port))
    act(sink, "datagram", b"AAAA")
    with pytest.raises(ActionFailed, match=r"datagram 2 from 127.0.0.1:\d+: expected b'CCCC' \(4 bytes\), received "
                                           r"b'BBBB'"):
        act(sink, "datagram", b"CCCC")
    with pytest.raises(ActionFailed, match="expected datagram 3 b'x', none arrived"):
        act(sink, "datagram", b"x", within=0.1)
    assert act(sink, "received_count", 2) == "2 datagrams"
    act(sink, "send", b"reply")
    assert module_udp.recvfrom(100)[0] == b"reply"
    with pytest.raises(ActionFailed, match=r"came from .*expected port 1"):
        module_udp.sendto(b"D", (sink.host, sink.port))
        act(sink, "datagram", b"D", 1)


def test_udp_sender_reaches_the_module_service_and_records_the_answer(loopback_peer, act, module_udp) -> None:
    sender = loopback_peer("udp_sender")
    service_port = module_udp.getsockname()[1]
    assert act(sender, "send", b"AAAA", service_port) == f"sent 4 bytes to 127.0.0.1:{service_port}"
    data, source = module_udp.recvfrom(100)
    assert data == b"AAAA" and source == (sender.host, sender.port)
    module_udp.sendto(b"1234567890", source)
    act(sender, "datagram", b"1234567890", service_port)


def test_dial_in_opens_several_connections_at_once(loopback_peer, act, module_listener) -> None:
    dial_in = loopback_peer("dial_in")
    port = module_listener.getsockname()[1]
    assert act(dial_in, "connect", port, 3).startswith(f"3 connection(s) to 127.0.0.1:{port} from port(s)")
    accepted = [module_listener.accept()[0] for _ in range(3)]
    by_port = {conn.getpeername()[1]: conn for conn in accepted}
    second = by_port[dial_in.connections[1].local[1]]
    act(dial_in, "send", b"to two", "on", 2)
    assert second.recv(100) == b"to two"
    second.sendall(b"from two")
    act(dial_in, "received", b"from two")
    assert dial_in.recorder.arrivals()[0].conn == 2
    second.close()
    assert act(dial_in, "closed", 2) == "connection 2 closed by the module (FIN)"
    assert [ep.port for ep in dial_in.endpoints()] == [c.local[1] for c in dial_in.connections if c.is_open]
    for conn in accepted:
        conn.close()


def test_dial_in_refused_where_nothing_listens(loopback_peer, act, module_listener) -> None:
    dial_in = loopback_peer("dial_in")
    port = module_listener.getsockname()[1]
    module_listener.close()
    assert act(dial_in, "refused", port) == f"127.0.0.1:{port} refused"
    with pytest.raises(ActionFailed, match=r"1 of 1 connection\(s\) to 127.0.0.1:\d+ failed: refused \(RST\)"):
        act(dial_in, "connect", port)


def test_dial_in_sees_the_module_reset_an_incoming_connection(loopback_peer, act, module_listener) -> None:
    dial_in = loopback_peer("dial_in")
    act(dial_in, "connect", module_listener.getsockname()[1], "127.0.0.1")
    conn, _ = module_listener.accept()
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()  # what a module with every connect ID taken does ("incoming full")
    assert act(dial_in, "closed", "rst") == "connection 1 closed by the module (RST)"
