"""The simulated M95 as a server: AT+QISERVER (TCP, UDP, a maximum of clients), AT+QILPORT, REMOTE IP, AT+QISRVC,
AT+QISSTAT and the closing order (GSM TCP/IP Application Note §3.2, §3.4, §5.1, §5.6.2)."""

from __future__ import annotations

import re
import socket

import pytest


def listen(gsm, command: str = "AT+QISERVER", protocol: str = "TCP") -> int:
    """Listen on a free port (AT+QILPORT 0, a simulator's convenience); return the port AT+QILPORT? shows."""
    gsm.ok(f'AT+QILPORT="{protocol}",0')
    assert gsm.cmd(command) == b"\r\nOK\r\n"
    assert gsm.read_until(b"\r\nSERVER OK\r\n") == b"\r\nSERVER OK\r\n"  # §3.2
    m = re.search(rf"{protocol}: (\d+)".encode(), gsm.ok("AT+QILPORT?"))
    assert m
    return int(m.group(1))


@pytest.fixture
def dial(kit):
    """Connect to the module's listener; a peer that keeps what it receives."""

    def connect(port: int):
        conn = socket.create_connection(("127.0.0.1", port), timeout=5)
        conn.settimeout(None)
        return kit.Peer(conn)

    return connect


def test_single_tcp_server_with_a_client_connection_beside_it(gsm, listener, dial):
    assert gsm.cmd("AT+QISSTAT") == b"\r\nOK\r\n"
    assert gsm.read_until(b"S: INITIAL\r\n")
    port = listen(gsm)
    gsm.write(b"AT+QILOCIP\r")
    gsm.read_until(b"\r\n127.0.0.1\r\n")
    assert gsm.cmd("AT+QISSTAT") == b"\r\nOK\r\n"
    assert gsm.read_until(b"\r\nS: LISTENNING\r\n") == b"\r\nS: LISTENNING\r\n"  # §5.6.2
    client = dial(port)
    assert gsm.read_until(b"\r\nREMOTE IP: 127.0.0.1\r\n") == b"\r\nREMOTE IP: 127.0.0.1\r\n"  # §3.2 step 2
    gsm.ok(f'AT+QIOPEN="TCP","127.0.0.1",{listener.port}')  # the server opens a client connection too
    gsm.read_until(b"\r\nCONNECT OK\r\n")
    remote = listener.accept()
    gsm.ok("AT+QIHEAD=1")
    # §3.2 step 3: AT+QISRVC selects the connection AT+QISEND acts on
    gsm.ok("AT+QISRVC=2")
    gsm.write(b"AT+QISEND=9\r")
    gsm.read_until(b"> ")
    gsm.write(b"to client")
    assert gsm.read_until(gsm.final) == b"\r\nSEND OK\r\n"
    assert client.wait_for(b"to client")
    gsm.ok("AT+QISRVC=1")
    gsm.write(b"AT+QISEND=9\r")
    gsm.read_until(b"> ")
    gsm.write(b"to server")
    gsm.read_until(gsm.final)
    assert remote.wait_for(b"to server")
    # A18: data of every connection is output whatever AT+QISRVC says
    client.conn.sendall(b"from client")
    assert gsm.read_until(b"IPD11:from client")
    # §3.2 step 4: with AT+QISRVC=2 the first AT+QICLOSE closes the client, the second the listener
    gsm.ok("AT+QISRVC=2")
    assert gsm.cmd("AT+QICLOSE") == b"\r\nCLOSE OK\r\n"
    client.wait_closed()
    assert gsm.cmd("AT+QICLOSE") == b"\r\nCLOSE OK\r\n"
    assert gsm.cmd("AT+QISSTAT") == b"\r\nOK\r\n"
    assert gsm.read_until(b"S: INITIAL\r\n")
    assert gsm.cmd("AT+QICLOSE") == b"\r\nERROR\r\n"
    gsm.ok("AT+QISRVC=1")
    assert gsm.cmd("AT+QICLOSE") == b"\r\nCLOSE OK\r\n"
    remote.wait_closed()
    assert gsm.cmd("AT+QIDEACT") == b"\r\nDEACT OK\r\n"


def test_single_server_takes_one_client(gsm, dial):
    port = listen(gsm)
    first = dial(port)
    gsm.read_until(b"REMOTE IP: 127.0.0.1\r\n")
    second = dial(port)
    second.wait_closed()  # closed at once
    assert not first.closed.is_set()
    assert b"REMOTE IP" not in gsm.ok("AT")


def test_mux_server_with_a_maximum_of_clients(gsm, listener, dial):
    gsm.ok("AT+QIMUX=1")
    port = listen(gsm, "AT+QISERVER=0,2")  # §3.4 (2 clients here)
    peers = []
    for index in range(2):
        peers.append(dial(port))
        line = f"\r\n{index}, REMOTE IP: 127.0.0.1\r\n".encode()
        assert gsm.read_until(line) == line  # the lowest free profile
    third = dial(port)
    third.wait_closed()  # beyond <max>
    gsm.ok(f'AT+QIOPEN=3,"TCP","127.0.0.1",{listener.port}')
    gsm.read_until(b"\r\n3, CONNECT OK\r\n")
    gsm.write(b"AT+QISEND=1\r")
    gsm.read_until(b"> ")
    gsm.write(b"hi\x1a")
    gsm.read_until(b"SEND OK\r\n")
    assert peers[1].wait_for(b"hi")
    peers[0].conn.sendall(b"abc")
    assert gsm.read_until(b"\r\n+RECEIVE: 0, 3\r\nabc") == b"\r\n+RECEIVE: 0, 3\r\nabc"  # §3.4
    gsm.ok("AT+QISRVC=2")
    assert gsm.cmd("AT+QICLOSE=0") == b"\r\n0, CLOSE OK\r\n"
    assert gsm.cmd("AT+QICLOSE") == b"\r\nCLOSE OK\r\n"  # §3.4 step 4: the listener
    gsm.ok("AT+QISRVC=1")
    assert gsm.cmd("AT+QICLOSE=3") == b"\r\n3, CLOSE OK\r\n"
    assert gsm.cmd("AT+QIDEACT") == b"\r\nDEACT OK\r\n"


def test_with_a_listener_five_profiles_at_most(gsm, listener):
    gsm.ok("AT+QIMUX=1")
    listen(gsm, "AT+QISERVER=0,5")
    for index in range(5):
        gsm.ok(f'AT+QIOPEN={index},"TCP","127.0.0.1",{listener.port}')
        gsm.read_until(f"{index}, CONNECT OK\r\n".encode())
    # §3.4: n + m <= 5 with a server (A5: the listener takes the sixth profile)
    assert gsm.cmd(f'AT+QIOPEN=5,"TCP","127.0.0.1",{listener.port}') == b"\r\nERROR\r\n"


def test_udp_server(gsm):
    port = listen(gsm, "AT+QISERVER=1", "UDP")
    gsm.ok("AT+QIHEAD=1")
    gsm.ok("AT+QISHOWPT=1")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(5)
        client.bind(("127.0.0.1", 0))
        client.sendto(b"first", ("127.0.0.1", port))
        # §3.2: REMOTE IP at the first datagram, which is then output as received data
        assert gsm.read_until(b"IPD5UDP:first") == b"\r\nREMOTE IP: 127.0.0.1\r\n\r\nIPD5UDP:first"
        gsm.ok("AT+QISRVC=2")
        gsm.write(b"AT+QISEND\r")
        gsm.read_until(b"> ")
        gsm.write(b"answer\x1a")
        gsm.read_until(b"SEND OK\r\n")
        assert client.recvfrom(100) == (b"answer", ("127.0.0.1", port))
        assert gsm.ok("AT+QISACK") == b"\r\n+QISACK: 6, 0, 0\r\n\r\nOK\r\n"


def test_transparent_server(gsm, dial):
    gsm.ok("AT+QIMODE=1")
    port = listen(gsm)
    client = dial(port)
    # §4.2, §5.1: REMOTE IP, then CONNECT and data mode
    assert gsm.read_until(b"CONNECT\r\n") == b"\r\nREMOTE IP: 127.0.0.1\r\n\r\nCONNECT\r\n"
    client.conn.sendall(b"raw")
    assert gsm.read_until(b"raw") == b"raw"
    gsm.write(b"back")
    assert client.wait_for(b"back")
    # AT&D2 (the power-on value, ASSUMPTION of V.250): DTR off closes the connection and leaves data mode
    gsm.sim.control("dtr", level=False)
    assert gsm.read_until(b"\r\nCLOSED\r\n") == b"\r\nCLOSED\r\n"
    client.wait_closed()
    gsm.sim.control("dtr", level=True)
    assert gsm.cmd("AT+QIDEACT") == b"\r\nDEACT OK\r\n"


def test_transparent_udp_server(gsm):
    gsm.ok("AT+QIMODE=1")
    port = listen(gsm, "AT+QISERVER=1", "UDP")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(5)
        client.bind(("127.0.0.1", 0))
        client.sendto(b"hello", ("127.0.0.1", port))
        # AN §4.2: REMOTE IP at the first datagram, CONNECT, then the datagram as data
        assert gsm.read_until(b"hello") == b"\r\nREMOTE IP: 127.0.0.1\r\n\r\nCONNECT\r\nhello"
        gsm.write(b"answer")
        assert client.recvfrom(100) == (b"answer", ("127.0.0.1", port))  # after the packet wait
        gsm.sim.control("dtr", level=False)  # AT&D2: the connection (this client) is closed
        assert gsm.read_until(b"\r\nCLOSED\r\n") == b"\r\nCLOSED\r\n"
        gsm.sim.control("dtr", level=True)
        client.sendto(b"again", ("127.0.0.1", port))  # the listener is still there: a new connection
        assert gsm.read_until(b"again") == b"\r\nREMOTE IP: 127.0.0.1\r\n\r\nCONNECT\r\nagain"
