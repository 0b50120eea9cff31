"""The simulated BC660K's socket services through its real pty, with real peer sockets: AT+QIOPEN, AT+QICLOSE,
AT+QISTATE, "incoming", "closed", and what the control channel's network does (§2.3.1-§2.3.3, §2.4.1, §2.4.3)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from conformance.sim import launch


@pytest.fixture
def modem(kit) -> Iterator:
    """A simulated BC660K that does not sleep, echo off, errors with their code (AT+CMEE=1)."""
    with launch("bc660k", config={**kit.TEST_CONFIG, "qsclk_at_power_on": 0}) as sim:
        m = kit.Modem(sim)
        m.ok("ATE0")
        m.ok("AT+CMEE=1")
        yield m
        m.close()


def open_tcp(modem, port: int, cid: int = 0, access_mode: str = ",0,1") -> None:
    assert modem.cmd(f'AT+QIOPEN=0,{cid},"TCP","127.0.0.1",{port}{access_mode}') == b"\r\nOK\r\n"
    assert modem.read_until(b"\r\n+QIOPEN: %d," % cid) and modem.read_until(b"\r\n") == b"0\r\n"


def close(modem, cid: int) -> bytes:
    modem.write(f"AT+QICLOSE={cid}\r")
    return modem.read_until(b"CLOSE OK\r\n")


def test_open_answers_ok_then_the_result_and_shows_access_mode_1(modem, listener):
    for mode in ("", ",0", ",0,0", ",0,2"):  # §1.2: "specified or not, is always 1"
        open_tcp(modem, listener.port, access_mode=mode)
        peer = listener.accept()
        assert modem.cmd("AT+QISTATE=1,0") == \
            b'\r\n+QISTATE: 0,"TCP","127.0.0.1",%d,0,2,0,1\r\n\r\nOK\r\n' % listener.port
        assert close(modem, 0) == b"\r\nOK\r\n\r\nCLOSE OK\r\n"
        peer.wait_closed()
    assert modem.cmd(f'AT+QIOPEN=0,0,"TCP","127.0.0.1",{listener.port},0,3') == b"\r\n+CME ERROR: 552\r\n"


@pytest.mark.parametrize("line, code", [
    ('AT+QIOPEN=0,5,"TCP","127.0.0.1",80', 552),  # <connectID> 0-4
    ('AT+QIOPEN=1,0,"TCP","127.0.0.1",80', 555),  # only context 0 is served
    ('AT+QIOPEN=11,0,"TCP","127.0.0.1",80', 552),
    ('AT+QIOPEN=0,0,"SCTP","127.0.0.1",80', 552),
    ('AT+QIOPEN=0,0,"TCP","",80', 552),
    ('AT+QIOPEN=0,0,"TCP","' + "a" * 151 + '",80', 552),  # <host> 150 bytes at most
    ('AT+QIOPEN=0,0,"TCP","127.0.0.1",0', 552),  # a client's <remote_port> is 1-65535
    ('AT+QIOPEN=0,0,"UDP SERVICE","127.0.0.1",1', 552),  # a server needs <local_port>
    ('AT+QIOPEN=0,0,"TCP LISTENER","127.0.0.1",0,0', 552),
    ('AT+QIOPEN=0,0,"TCP","127.0.0.1",80,65536', 552),
])
def test_bad_parameters_are_refused_before_ok_and_take_nothing(modem, line, code):
    assert modem.cmd(line) == b"\r\n+CME ERROR: %d\r\n" % code
    assert modem.cmd("AT+QISTATE?") == b"\r\nOK\r\n"


def test_a_connect_id_in_use_is_563_and_the_open_one_stays(modem, listener):
    open_tcp(modem, listener.port)
    assert modem.cmd(f'AT+QIOPEN=0,0,"UDP","127.0.0.1",{listener.port}') == b"\r\n+CME ERROR: 563\r\n"
    assert b',"TCP",' in modem.cmd("AT+QISTATE=1,0")


def test_a_refused_connect_is_566_and_keeps_its_id_until_qiclose(modem):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, not listening: the kernel answers the SYN with a RST
    port = closed.getsockname()[1]
    try:
        assert modem.cmd(f'AT+QIOPEN=0,2,"TCP","127.0.0.1",{port},0,1') == b"\r\nOK\r\n"
        assert modem.read_until(b"+QIOPEN: 2,566\r\n") == b"\r\n+QIOPEN: 2,566\r\n"
        # §2.3.1 note 3: the host closes it; until then the ID is taken, state 0 "Initial"
        assert modem.cmd("AT+QISTATE?") == b'\r\n+QISTATE: 2,"TCP","127.0.0.1",%d,0,0,0,1\r\n\r\nOK\r\n' % port
        assert modem.cmd(f'AT+QIOPEN=0,2,"TCP","127.0.0.1",{port},0,1') == b"\r\n+CME ERROR: 563\r\n"
        assert close(modem, 2) == b"\r\nOK\r\n\r\nCLOSE OK\r\n"
        assert modem.cmd("AT+QISTATE?") == b"\r\nOK\r\n"
    finally:
        closed.close()


def test_close_while_connecting_abandons_the_open(modem):
    # a server whose accept queue is full drops SYNs: the module's connect stays in SYN-SENT
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = [socket.socket() for _ in range(3)]
    try:
        for filler in fillers:
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
        assert modem.cmd(f'AT+QIOPEN=0,0,"TCP","127.0.0.1",{port},0,1') == b"\r\nOK\r\n"
        assert modem.cmd("AT+QISTATE=1,0") == b'\r\n+QISTATE: 0,"TCP","127.0.0.1",%d,0,1,0,1\r\n\r\nOK\r\n' % port
        assert close(modem, 0) == b"\r\nOK\r\n\r\nCLOSE OK\r\n"
        with pytest.raises(AssertionError):
            modem.read_until(b"+QIOPEN", timeout=1.5)  # none comes, not even at connect_timeout_s (1 s)
    finally:
        for sock in (server, *fillers):
            sock.close()


def test_close_of_an_unused_id_is_an_error(modem):
    assert modem.cmd("AT+QICLOSE=3") == b"\r\n+CME ERROR: 552\r\n"  # ambiguity 31
    assert modem.cmd("AT+QICLOSE=5") == b"\r\n+CME ERROR: 552\r\n"


def test_a_local_port_the_module_uses_is_574_one_the_kernel_refuses_is_556(modem):
    assert modem.cmd('AT+QIOPEN=0,0,"UDP SERVICE","127.0.0.1",1,4321,1') == b"\r\nOK\r\n"
    modem.read_until(b"+QIOPEN: 0,0\r\n")
    assert modem.cmd('AT+QIOPEN=0,1,"UDP SERVICE","127.0.0.1",1,4321,1') == b"\r\nOK\r\n"
    assert modem.read_until(b"+QIOPEN: 1,574\r\n") == b"\r\n+QIOPEN: 1,574\r\n"
    holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    holder.bind(("127.0.0.1", 0))  # another process holds the port on the module's address
    try:
        port = holder.getsockname()[1]
        assert modem.cmd(f'AT+QIOPEN=0,2,"UDP SERVICE","127.0.0.1",1,{port},1') == b"\r\nOK\r\n"
        assert modem.read_until(b"+QIOPEN: 2,556\r\n") == b"\r\n+QIOPEN: 2,556\r\n"
    finally:
        holder.close()


def test_listener_gives_the_lowest_free_id_and_takes_its_clients_when_closed(modem):
    assert modem.cmd('AT+QIOPEN=0,1,"TCP LISTENER","10.9.8.7",0,0,1') == b"\r\n+CME ERROR: 552\r\n"
    assert modem.cmd('AT+QIOPEN=0,1,"TCP LISTENER","10.9.8.7",0,5555,1') == b"\r\nOK\r\n"
    modem.read_until(b"+QIOPEN: 1,0\r\n")
    clients = [socket.create_connection(("127.0.0.1", 5555), timeout=5) for _ in range(2)]
    try:
        urcs = modem.read_until(b'"incoming",2,1,', timeout=5) + modem.read_until(b"\r\n")
        port0, port2 = (c.getsockname()[1] for c in clients)
        assert urcs == (b'\r\n+QIURC: "incoming",0,1,"127.0.0.1",%d\r\n' % port0 +
                        b'\r\n+QIURC: "incoming",2,1,"127.0.0.1",%d\r\n' % port2)
        assert modem.cmd("AT+QISTATE?") == (
            b'\r\n+QISTATE: 0,"TCP INCOMING","127.0.0.1",%d,5555,2,0,1\r\n' % port0 +
            b'+QISTATE: 1,"TCP LISTENER","10.9.8.7",0,5555,2,0,1\r\n' +  # as AT+QIOPEN gave it (ambiguity 7)
            b'+QISTATE: 2,"TCP INCOMING","127.0.0.1",%d,5555,2,0,1\r\n\r\nOK\r\n' % port2)
        assert close(modem, 1) == b"\r\nOK\r\n\r\nCLOSE OK\r\n"
        assert modem.cmd("AT+QISTATE?") == b"\r\nOK\r\n"  # §4.3.4
        for client in clients:
            assert client.recv(10) == b""  # closed with the listener, no "closed" URC to the host
        assert b"closed" not in modem.buffer
    finally:
        for client in clients:
            client.close()


def test_with_every_id_taken_an_incoming_client_is_closed_without_a_urc(modem, listener):
    assert modem.cmd('AT+QIOPEN=0,0,"TCP LISTENER","127.0.0.1",0,5556,1') == b"\r\nOK\r\n"
    modem.read_until(b"+QIOPEN: 0,0\r\n")
    for cid in range(1, 5):
        open_tcp(modem, listener.port, cid)
    client = socket.create_connection(("127.0.0.1", 5556), timeout=5)
    try:
        assert client.recv(10) == b""
    finally:
        client.close()
    assert modem.cmd("AT") == b"\r\nOK\r\n"  # nothing came before it


@pytest.mark.parametrize("how", ["close", "reset"])
def test_the_peer_closing_gives_closed_and_state_4(modem, listener, how):
    open_tcp(modem, listener.port)
    peer = listener.accept()
    getattr(peer, how)()
    assert modem.read_until(b'"closed",0\r\n') == b'\r\n+QIURC: "closed",0\r\n'
    assert modem.cmd("AT+QISTATE=1,0") == b'\r\n+QISTATE: 0,"TCP","127.0.0.1",%d,0,4,0,1\r\n\r\nOK\r\n' % listener.port
    assert modem.cmd('AT+QISEND=0,1,"x"') == b"\r\n+CME ERROR: 567\r\n"
    assert close(modem, 0) == b"\r\nOK\r\n\r\nCLOSE OK\r\n"


def test_a_udp_socket_has_no_closed_urc(modem):
    assert modem.cmd('AT+QIOPEN=0,0,"UDP","127.0.0.1",9,0,1') == b"\r\nOK\r\n"
    modem.read_until(b"+QIOPEN: 0,0\r\n")
    for _ in range(2):  # the second send meets the first's ICMP port unreachable: it closes nothing (§2.4.1)
        assert modem.cmd('AT+QISEND=0,3,"abc"') == b"\r\nOK\r\n"
        assert modem.read_until(b"SEND OK\r\n") == b"\r\nSEND OK\r\n"
    assert modem.cmd("AT") == b"\r\nOK\r\n"


def test_a_broken_pdn_closes_connections_and_refuses_with_570_until_the_network_is_back(modem, listener):
    open_tcp(modem, listener.port)
    listener.accept()
    modem.sim.control("pdn_broken")
    assert modem.read_until(b'"closed",0\r\n') == b'\r\n+QIURC: "closed",0\r\n'
    assert modem.cmd("AT+QISTATE=1,0") == b'\r\n+QISTATE: 0,"TCP","127.0.0.1",%d,0,3,0,1\r\n\r\nOK\r\n' % listener.port
    assert modem.cmd('AT+QISEND=0,1,"x"') == b"\r\n+CME ERROR: 570\r\n"
    assert modem.cmd(f'AT+QIOPEN=0,1,"TCP","127.0.0.1",{listener.port}') == b"\r\n+CME ERROR: 570\r\n"
    modem.sim.control("registration", state="on")
    assert modem.read_until(b"+IP: 127.0.0.1\r\n") == b"\r\n+IP: 127.0.0.1\r\n"
    open_tcp(modem, listener.port, 1)


def test_a_refused_pdn_answers_its_cause(modem, listener):
    modem.sim.control("registration", state="off", code=573)
    assert modem.cmd(f'AT+QIOPEN=0,0,"TCP","127.0.0.1",{listener.port}') == b"\r\n+CME ERROR: 573\r\n"
    modem.sim.control("registration", state="off")
    assert modem.cmd(f'AT+QIOPEN=0,0,"TCP","127.0.0.1",{listener.port}') == b"\r\n+CME ERROR: 572\r\n"
    with pytest.raises(Exception, match="not in the bc660k error table"):
        modem.sim.control("registration", state="off", code=999)


def test_injected_errors_take_each_commands_own_path(modem, listener):
    modem.sim.control("inject_error", command="+QIOPEN", code=557)
    assert modem.cmd(f'AT+QIOPEN=0,0,"TCP","127.0.0.1",{listener.port}') == b"\r\nOK\r\n"
    assert modem.read_until(b"+QIOPEN: 0,557\r\n") == b"\r\n+QIOPEN: 0,557\r\n"
    modem.sim.control("inject_error", command="+QISTATE", code=550)
    assert modem.cmd("AT+QISTATE?") == b"\r\n+CME ERROR: 550\r\n"
    assert modem.cmd("AT+QISTATE?").startswith(b'\r\n+QISTATE: 0,"TCP"')  # once only
