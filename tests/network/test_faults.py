"""Faults made by the network between the module's namespace and the peers' (nft rules), proven with real sockets on
the module's side: unacknowledged bytes (SIOCOUTQ), ECONNREFUSED, ECONNRESET, one-way loss."""

from __future__ import annotations

import socket
import struct
import time

import pytest

from conformance.errors import ActionFailed
from conformance.network.namespaces import run

pytestmark = [pytest.mark.root]  # every test here takes the `net` fixture, which skips with the reason when it can't


def wait_until(predicate, seconds: float) -> bool:
    """For kernel state with no event to wait on (SIOCOUTQ): check until true or the deadline."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_blackhole_keeps_module_data_unacknowledged_until_restore(peer, net, module_side, act, unacked, topology):
    sink = peer("tcp_sink")
    module = module_side()
    module.connect((sink.host, sink.port))
    assert module.getsockname()[0] == topology.plan.module_ip
    context = {"tcp_sink": sink}
    act(net, "blackhole", "tcp_sink", context=context)
    assert f"tcp dport {sink.port} drop" in run(["nft", "list", "ruleset"], netns=topology.peer_netns)
    module.sendall(b"x" * 1000)
    act(sink, "idle", 0.5)  # nothing gets through while the rule is in place ...
    assert unacked(module) == 1000  # ... and the module's kernel still holds every byte
    assert act(net, "restore") == "restored blackhole tcp_sink"
    act(sink, "received_count", 1000, within=5)  # the retransmission gets through
    assert wait_until(lambda: unacked(module) == 0, 2)
    assert "drop" not in run(["nft", "list", "ruleset"], netns=topology.peer_netns)


def test_blackhole_loses_what_the_peer_sends_too(peer, net, module_side, act):
    talker = peer("tcp_talker")
    module = module_side()
    module.connect((talker.host, talker.port))
    act(net, "blackhole", "tcp_talker", context={"tcp_talker": talker})
    act(talker, "send", b"CLOSED\r\n")
    module.settimeout(0.3)
    with pytest.raises(TimeoutError):
        module.recv(10)
    act(net, "restore", "tcp_talker")
    module.settimeout(5)
    assert module.recv(10) == b"CLOSED\r\n"


def test_refuse_makes_a_tcp_connect_fail_with_econnrefused(peer, net, module_side, act):
    echo = peer("tcp_echo")
    act(net, "refuse", "tcp_echo", context={"tcp_echo": echo})
    with pytest.raises(ConnectionRefusedError):
        module_side().connect((echo.host, echo.port))
    act(net, "restore", "tcp_echo")
    module = module_side()
    module.connect((echo.host, echo.port))  # the port is back


def test_refuse_answers_udp_with_port_unreachable(peer, net, module_side, act):
    echo = peer("udp_echo")
    act(net, "refuse", "udp_echo", context={"udp_echo": echo})
    module = module_side(socket.SOCK_DGRAM)
    module.connect((echo.host, echo.port))  # a connected UDP socket reports the ICMP error
    module.send(b"ping")
    with pytest.raises(ConnectionRefusedError):
        module.recv(10)
    assert echo.recorder.count == 0


def test_reset_breaks_an_established_connection_unprompted(peer, net, module_side, act):
    sink = peer("tcp_sink")
    module = module_side()
    module.connect((sink.host, sink.port))
    module.sendall(b"before")
    act(sink, "received", b"before")
    act(net, "reset", "tcp_sink", context={"tcp_sink": sink})
    with pytest.raises(ConnectionResetError):
        module.recv(10)  # the peer's keepalive probe draws the module's ACK, which is answered with a reset


def test_reset_needs_tcp(peer, net, act):
    sink = peer("udp_sink")
    with pytest.raises(ActionFailed, match="net reset: udp_sink has no TCP traffic to reset"):
        act(net, "reset", "udp_sink", context={"udp_sink": sink})


def test_drop_out_loses_only_what_the_module_sends(peer, net, module_side, act, unacked):
    talker = peer("tcp_talker")
    module = module_side()
    module.connect((talker.host, talker.port))
    act(net, "drop_out", "tcp_talker", context={"tcp_talker": talker})
    module.sendall(b"lost")
    act(talker, "send", b"arrives")
    assert module.recv(7) == b"arrives"
    act(talker, "idle", 0.3)
    assert unacked(module) == 4


def test_drop_in_loses_only_what_the_peer_sends(peer, net, module_side, act):
    talker = peer("tcp_talker")
    module = module_side()
    module.connect((talker.host, talker.port))
    act(net, "drop_in", "tcp_talker", context={"tcp_talker": talker})
    module.sendall(b"arrives")
    act(talker, "received", b"arrives")
    act(talker, "send", b"lost")
    module.settimeout(0.3)
    with pytest.raises(TimeoutError):
        module.recv(10)


def test_udp_blackhole_and_restore_one_peer_only(peer, net, module_side, act):
    sink, echo = peer("udp_sink"), peer("udp_echo")
    context = {"udp_sink": sink, "udp_echo": echo}
    act(net, "blackhole", "udp_sink", "udp_echo", context=context)
    act(net, "restore", "udp_echo")
    module = module_side(socket.SOCK_DGRAM)
    module.sendto(b"to sink", (sink.host, sink.port))
    module.sendto(b"to echo", (echo.host, echo.port))
    assert module.recvfrom(10)[0] == b"to echo"
    act(echo, "datagram", b"to echo")
    act(sink, "idle", 0.3)
    assert [f.peer for f in net.faults] == ["udp_sink"]


def test_dial_in_faults_select_its_client_ports(peer, net, module_side, act, topology, unacked):
    listener = module_side()
    listener.bind((topology.plan.module_ip, 0))
    listener.listen()
    dial_in = peer("dial_in")
    with pytest.raises(ActionFailed, match="dial_in has no traffic yet"):
        act(net, "blackhole", "dial_in", context={"dial_in": dial_in})
    act(dial_in, "connect", listener.getsockname()[1])
    incoming, _ = listener.accept()
    act(net, "blackhole", "dial_in", context={"dial_in": dial_in})
    incoming.sendall(b"stuck")
    act(dial_in, "idle", 0.3)
    assert unacked(incoming) == 5
    incoming.close()


def test_ping_counts_echo_requests_and_blackhole_loses_them(peer, net, module_side, act):
    ping = peer("ping")
    assert ping.counting
    module = module_side(socket.SOCK_RAW, socket.IPPROTO_ICMP)
    module.sendto(_echo_request(1), (ping.host, 0))
    assert act(ping, "received_count", 1) == "1 echo requests"
    act(net, "blackhole", "ping", context={"ping": ping})
    module.sendto(_echo_request(2), (ping.host, 0))
    act(ping, "idle", 0.3)


def test_faults_on_all_of_the_peers_address(peer, net, module_side, act):
    echo = peer("tcp_echo")
    act(net, "refuse", "all")
    with pytest.raises(ConnectionRefusedError):
        module_side().connect((echo.host, echo.port))
    act(net, "restore")
    module = module_side()
    module.connect((echo.host, echo.port))
    act(echo, "accept")
    act(net, "reset", "all", "tcp_echo", context={"tcp_echo": echo})
    with pytest.raises(ConnectionResetError):
        module.recv(10)
    act(net, "restore")
    act(net, "blackhole", "all")
    module = module_side()
    module.settimeout(0.3)
    with pytest.raises(TimeoutError):
        module.connect((echo.host, echo.port))


def test_unknown_peer_and_verb_fail_clearly(net, act):
    with pytest.raises(ActionFailed, match=r"net blackhole: no target 'tcp_sink' in this case \(list it under needs"):
        act(net, "blackhole", "tcp_sink")
    with pytest.raises(ActionFailed, match="net: unknown verb 'melt'"):
        act(net, "melt", "tcp_sink")
    with pytest.raises(ActionFailed, match="name the peer"):
        act(net, "refuse")


def _echo_request(seq: int) -> bytes:
    """An ICMP echo request, as AT+QPING sends."""
    payload = b"conformance!"
    data = struct.pack("!BBHHH", 8, 0, 0, 0x4242, seq) + payload
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total & 0xFFFF) + (total >> 16)
    checksum = ~(total + (total >> 16)) & 0xFFFF
    return struct.pack("!BBHHH", 8, 0, checksum, 0x4242, seq) + payload
