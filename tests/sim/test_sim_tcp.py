"""TCP clients and servers in buffer and direct push access modes, against real peer sockets (§2.1.4-2.1.10, §3.2,
§3.4, §3.5), and the error codes the network produces."""

from __future__ import annotations

import re
import socket

import pytest


def test_buffer_mode_send_and_receive_as_in_section_3_2(online, tcp_echo, kit):
    kit.open_tcp(online, tcp_echo)
    state = online.ok("AT+QISTATE=1,0")
    assert re.fullmatch(rb'\r\n\+QISTATE: 0,"TCP","127\.0\.0\.1",%d,\d+,2,1,0,0,"usbmodem"\r\n\r\nOK\r\n' % tcp_echo,
                        state)
    online.write(b"AT+QISEND=0\r")
    online.read_until(b"\r\n> ")
    online.write(b"test1\x1a")
    assert online.read_until(b"SEND OK\r\n") == b"test1\r\nSEND OK\r\n"  # AT+QISDE=1: the data is echoed
    online.read_until(b'+QIURC: "recv",0\r\n')
    online.write(b"AT+QISEND=0,4\r")
    online.read_until(b"\r\n> ")
    online.write(b"test")
    assert online.read_until(b"SEND OK\r\n") == b"test\r\nSEND OK\r\n"
    online.write(b'AT+QISENDEX=0,"3132333435"\r')
    online.read_until(b"SEND OK\r\n")
    kit.wait_state(online, lambda s: s["sockets"][0]["unread_length"] == 14)
    assert online.ok("AT+QISEND=0,0") == b"\r\n+QISEND: 14,14,0\r\n\r\nOK\r\n"
    assert online.ok("AT+QIRD=0,1500") == b"\r\n+QIRD: 14\r\ntest1test12345\r\n\r\nOK\r\n"
    assert online.ok("AT+QIRD=0,1500") == b"\r\n+QIRD: 0\r\n\r\nOK\r\n"
    assert online.ok("AT+QIRD=0,0") == b"\r\n+QIRD: 14,14,0\r\n\r\nOK\r\n"
    assert online.ok("AT+QICLOSE=0") == b"\r\nOK\r\n"
    assert online.ok("AT+QISTATE") == b"\r\nOK\r\n"


def test_fixed_length_send_is_binary_and_byte_exact(online, listener, kit):
    kit.open_tcp(online, listener.port)
    peer = listener.accept()
    data = bytes(range(256))  # every byte value, Ctrl+Z, ESC and backspace included
    online.write(b"AT+QISEND=0,256\r")
    online.read_until(b"\r\n> ")
    online.write(data)
    assert online.read_until(b"\r\nSEND OK\r\n") == data + b"\r\nSEND OK\r\n"  # the echo is the data, verbatim
    assert peer.wait_for(data) == data
    online.ok("AT+QISDE=0")
    online.write(b"AT+QISEND=0,3\r")
    online.read_until(b"\r\n> ")
    online.write(b"\x1a\x1b\x08")
    assert online.read_until(b"SEND OK\r\n") == b"\r\nSEND OK\r\n"  # no echo with AT+QISDE=0
    assert peer.wait_for(data + b"\x1a\x1b\x08") == data + b"\x1a\x1b\x08"


def test_escape_cancels_a_variable_length_send(online, listener, kit):
    kit.open_tcp(online, listener.port)
    peer = listener.accept()
    online.write(b"AT+QISEND=0\r")
    online.read_until(b"\r\n> ")
    online.write(b"never\x1b")
    assert online.read_until(kit.FINAL) == b"never\r\nERROR\r\n"
    assert online.error_code() == 571
    online.write(b"AT+QISEND=0\r")
    online.read_until(b"\r\n> ")
    online.write(b"x" * 1461 + b"\x1a")  # more than 1460 bytes before Ctrl+Z
    assert online.read_until(kit.FINAL).endswith(b"\r\nERROR\r\n")
    online.write(b"AT+QISEND=0\r")
    online.read_until(b"\r\n> ")
    online.write(b"sent\x1a")
    online.read_until(b"SEND OK\r\n")
    assert peer.wait_for(b"sent") == b"sent"  # nothing of the cancelled or refused sends reached the peer
    assert online.ok("AT+QISEND=0,0") == b"\r\n+QISEND: 4,4,0\r\n\r\nOK\r\n"


def test_unacked_bytes_are_what_the_kernel_says(online, kit):
    lst = kit.Listener(rcvbuf=2048)  # a peer that accepts and never reads, with a small receive buffer
    try:
        kit.open_tcp(online, lst.port)
        conn = lst.accept(read=False)
        online.ok("AT+QISDE=0")
        chunk = b"u" * 1460
        total = 0
        for _ in range(10):
            online.write(b"AT+QISEND=0,1460\r")
            online.read_until(b"\r\n> ")
            online.write(chunk)
            result = online.read_until(kit.FINAL)
            if result.endswith(b"SEND OK\r\n"):
                total += len(chunk)
        m = re.search(rb"\+QISEND: (\d+),(\d+),(\d+)", online.ok("AT+QISEND=0,0"))
        sent, acked, unacked = (int(g) for g in m.groups())
        assert sent == total and acked + unacked == total
        assert unacked > 0  # the peer's window is full: the kernel holds the rest (SIOCOUTQ)
        received = 0
        conn.settimeout(5)
        while received < total:
            received += len(conn.recv(65536))
        state = kit.wait_state(online, lambda s: s["sockets"][0]["unacked_bytes"] == 0)
        assert state["sockets"][0]["total_send_length"] == total
        assert online.ok("AT+QISEND=0,0") == b"\r\n+QISEND: %d,%d,0\r\n\r\nOK\r\n" % (total, total)
        conn.close()
    finally:
        lst.close()


def test_one_recv_urc_until_the_buffer_is_read_empty(online, listener, kit):
    kit.open_tcp(online, listener.port)
    peer = listener.accept()

    def peer_sends(data: bytes, unread: int) -> bytes:
        peer.conn.sendall(data)
        kit.wait_state(online, lambda s: s["sockets"][0]["unread_length"] == unread)
        # The module's output is ordered: a URC for this arrival would come before the OK of this AT.
        return online.ok("AT")

    assert peer_sends(b"a", 1) == b'\r\n+QIURC: "recv",0\r\n\r\nOK\r\n'
    assert peer_sends(b"b", 2) == b"\r\nOK\r\n"  # §2.1.8: no new URC while the buffer is not empty
    assert online.ok("AT+QIRD=0,1") == b"\r\n+QIRD: 1\r\na\r\n\r\nOK\r\n"
    assert peer_sends(b"c", 2) == b"\r\nOK\r\n"  # read, but not empty
    assert online.ok("AT+QIRD=0") == b"\r\n+QIRD: 2\r\nbc\r\n\r\nOK\r\n"
    assert peer_sends(b"d", 1) == b'\r\n+QIURC: "recv",0\r\n\r\nOK\r\n'  # empty again: reported again
    assert online.ok("AT+QIRD=0,0") == b"\r\n+QIRD: 4,3,1\r\n\r\nOK\r\n"


def test_direct_push_mode(online, listener, kit):
    kit.open_tcp(online, listener.port, access_mode=1)
    peer = listener.accept()
    assert b',0,1,"usbmodem"' in online.ok("AT+QISTATE=1,0")
    peer.conn.sendall(b"te\r\nst")
    assert online.read_until(b"st\r\n") == b'\r\n+QIURC: "recv",0,6\r\nte\r\nst\r\n'  # §3.4.3
    assert online.ok("AT+QIRD=0,0") == b"\r\n+QIRD: 6,6,0\r\n\r\nOK\r\n"
    online.write(b"AT+QISEND=0,5\r")
    online.read_until(b"> ")
    online.write(b"test2")
    online.read_until(b"SEND OK\r\n")
    assert peer.wait_for(b"test2") == b"test2"


def test_switching_access_modes(online, listener, kit):
    kit.open_tcp(online, listener.port)
    peer = listener.accept()
    peer.conn.sendall(b"buffered")
    online.read_until(b'+QIURC: "recv",0\r\n')
    assert online.ok("AT+QISWTMD=0,1") == b"\r\nOK\r\n"
    assert online.read_until(b"buffered\r\n") == b'\r\n+QIURC: "recv",0,8\r\nbuffered\r\n'  # pushed at once
    peer.conn.sendall(b"pushed")
    online.read_until(b'+QIURC: "recv",0,6\r\npushed\r\n')
    online.ok("AT+QISWTMD=0,0")
    peer.conn.sendall(b"again")
    online.read_until(b'+QIURC: "recv",0\r\n')
    assert online.ok("AT+QISWTMD=?") == b"\r\n+QISWTMD: (0-11),(0-2)\r\n\r\nOK\r\n"


def test_peer_close_and_reset(online, listener, kit):
    kit.open_tcp(online, listener.port, connect_id=0)
    kit.open_tcp(online, listener.port, connect_id=1)
    first, second = listener.accept(), listener.accept()
    first.conn.sendall(b"last words")
    online.read_until(b'+QIURC: "recv",0\r\n')
    first.close()
    online.read_until(b'+QIURC: "closed",0\r\n')  # §2.2.1
    assert b',4,1,0,0,"usbmodem"' in online.ok("AT+QISTATE=1,0")  # "closing" until AT+QICLOSE
    assert online.cmd("AT+QISEND=0,1") == b"\r\nERROR\r\n"
    assert online.error_code() == 567
    assert online.ok("AT+QIRD=0") == b"\r\n+QIRD: 10\r\nlast words\r\n\r\nOK\r\n"  # the buffer outlives the peer
    online.ok("AT+QICLOSE=0")
    second.reset()
    online.read_until(b'+QIURC: "closed",1\r\n')
    assert online.cmd("AT+QISEND=1") == b"\r\nERROR\r\n"
    assert online.error_code() == 558


def test_connection_refused_is_566(online, kit):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: the kernel answers RST
        online.ok(f'AT+QIOPEN=1,0,"TCP","127.0.0.1",{port},0,0')
        online.read_until(b"+QIOPEN: 0,566\r\n")
        assert online.error_code() == 566
        assert online.ok("AT+QISTATE") == b"\r\nOK\r\n"  # the ID is free again
        assert online.cmd(f'AT+QIOPEN=1,0,"TCP","127.0.0.1",{port},0,2') == b"\r\nERROR\r\n"  # transparent: ERROR
        assert online.error_code() == 566


def test_black_holed_peer_is_569_after_the_connect_timeout(online):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    port = srv.getsockname()[1]
    fillers = []
    for _ in range(2):  # fill the accept queue: the kernel then drops further SYNs, unanswered
        f = socket.socket()
        f.setblocking(False)
        f.connect_ex(("127.0.0.1", port))
        fillers.append(f)
    try:
        online.ok(f'AT+QIOPEN=1,0,"TCP","127.0.0.1",{port},0,0')
        assert b",1,1,0,0," in online.ok("AT+QISTATE=1,0")  # "opening" meanwhile
        online.read_until(b"+QIOPEN: 0,569\r\n", timeout=5)  # connect_timeout_s = 1 in the test config
        assert online.error_code() == 569
    finally:
        for f in fillers:
            f.close()
        srv.close()


def test_connect_id_in_use_is_563_and_port_busy_is_574(online, listener, kit):
    kit.open_tcp(online, listener.port)
    online.ok(f'AT+QIOPEN=1,0,"TCP","127.0.0.1",{listener.port},0,0')
    online.read_until(b"+QIOPEN: 0,563\r\n")
    online.ok('AT+QIOPEN=1,1,"TCP LISTENER","127.0.0.1",0,0,0')
    online.read_until(b"+QIOPEN: 1,0\r\n")
    local_port = kit.socket_state(online, 1)["local_port"]
    online.ok(f'AT+QIOPEN=1,2,"TCP LISTENER","127.0.0.1",0,{local_port},0')
    online.read_until(b"+QIOPEN: 2,574\r\n")
    assert online.error_code() == 574


def test_udp_service_on_a_port_another_process_holds_is_556(online):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", 0))
        online.ok(f'AT+QIOPEN=1,2,"UDP SERVICE","127.0.0.1",0,{holder.getsockname()[1]},0')
        online.read_until(b"+QIOPEN: 2,556\r\n")


def test_qiclose_forces_the_close_after_its_timeout(online, listener, kit):
    kit.open_tcp(online, listener.port)
    conn = listener.accept(read=False)  # a peer that never closes its side
    online.write(b"AT+QICLOSE=0,1\r")
    kit.wait_state(online, lambda s: s["busy"] and s["sockets"][0]["socket_state"] == 4)  # closing meanwhile
    conn.settimeout(2)
    assert conn.recv(100) == b""  # the module's FIN came at once
    assert online.read_until(kit.FINAL, timeout=4) == b"\r\nOK\r\n"
    with pytest.raises((ConnectionResetError, BrokenPipeError)):  # then, with no FIN back in 1 s, a reset
        conn.send(b"late")
    conn.close()
    assert online.ok("AT+QISTATE") == b"\r\nOK\r\n"


def test_tcp_listener_and_incoming_connections_as_in_section_3_5(online, kit):
    online.ok('AT+QIOPEN=1,1,"TCP LISTENER","127.0.0.1",0,0,0')
    online.read_until(b"+QIOPEN: 1,0\r\n")
    state = online.ok("AT+QISTATE=0,1")
    m = re.fullmatch(rb'\r\n\+QISTATE: 1,"TCP LISTENER","127\.0\.0\.1",0,(\d+),3,1,1,0,"usbmodem"\r\n\r\nOK\r\n',
                     state)
    assert m, state
    port = int(m.group(1))
    client = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        urc = online.read_until(re.compile(rb'\+QIURC: "incoming",\d+,1,"127\.0\.0\.1",\d+\r\n'))
        assert urc == b'\r\n+QIURC: "incoming",11,1,"127.0.0.1",%d\r\n' % client.getsockname()[1]  # §3.5.2
        client.sendall(b"test")
        online.read_until(b'+QIURC: "recv",11\r\n')
        assert online.ok("AT+QIRD=11,1500") == b"\r\n+QIRD: 4\r\ntest\r\n\r\nOK\r\n"
        assert online.ok("AT+QIRD=11,0") == b"\r\n+QIRD: 4,4,0\r\n\r\nOK\r\n"
        listing = online.ok("AT+QISTATE")
        assert (b'+QISTATE: 11,"TCP INCOMING","127.0.0.1",%d,%d,2,1,1,0,"usbmodem"' % (client.getsockname()[1], port)
                in listing)
        assert listing.count(b"+QISTATE: ") == 2 and online.ok("AT+QISTATE?") == listing
        assert online.ok("AT+QISTATE=0,1") == listing and online.ok("AT+QISTATE=0,2") == b"\r\nOK\r\n"
        online.write(b"AT+QISEND=11,5\r")
        online.read_until(b"> ")
        online.write(b"reply")
        online.read_until(b"SEND OK\r\n")
        assert client.recv(5) == b"reply"
        client.close()
        online.read_until(b'+QIURC: "closed",11\r\n')
        online.ok("AT+QICLOSE=11")
        online.ok("AT+QICLOSE=1")
        assert online.ok("AT+QISTATE") == b"\r\nOK\r\n"
    finally:
        client.close()


def test_incoming_full_when_no_connect_id_is_free(online, kit):
    online.ok('AT+QIOPEN=1,0,"TCP LISTENER","127.0.0.1",0,0,0')
    online.read_until(b"+QIOPEN: 0,0\r\n")
    port = kit.socket_state(online, 0)["local_port"]
    clients = []
    try:
        for connect_id in range(11, 0, -1):  # IDs 11 down to 1 fill up
            clients.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            online.read_until(b'+QIURC: "incoming",%d,0,' % connect_id)
        extra = socket.create_connection(("127.0.0.1", port), timeout=5)
        clients.append(extra)
        online.read_until(b'+QIURC: "incoming full"\r\n')  # §2.2.3
        assert extra.recv(10) == b""  # accepted, then closed
    finally:
        for c in clients:
            c.close()


def test_qisendex_rules(online, kit, listener):
    kit.open_tcp(online, listener.port)
    peer = listener.accept()
    for bad in ('"123"', '"zz"', '"' + "41" * 257 + '"', "3132"):
        assert online.cmd(f"AT+QISENDEX=0,{bad}") == b"\r\nERROR\r\n", bad
        assert online.error_code() == 552
    assert online.cmd('AT+QISENDEX=0,""') == b"\r\nSEND FAIL\r\n"  # §2.1.9: no data
    assert online.cmd('AT+QISENDEX=0,"' + "41" * 256 + '"') == b"\r\nSEND OK\r\n"  # 512 hex characters
    assert peer.wait_for(b"A" * 256) == b"A" * 256
    online.ok('AT+QIOPEN=1,2,"UDP SERVICE","127.0.0.1",0,0,0')
    online.read_until(b"+QIOPEN: 2,0\r\n")
    assert online.cmd('AT+QISENDEX=2,"41"') == b"\r\nERROR\r\n"
    assert online.error_code() == 555


def test_operations_on_a_connect_id_that_is_not_open(online):
    assert online.cmd("AT+QIRD=3") == b"\r\nERROR\r\n"
    assert online.cmd("AT+QISEND=3") == b"\r\nERROR\r\n"
    assert online.cmd("AT+QISEND=3,0") == b"\r\nERROR\r\n"
    assert online.ok("AT+QICLOSE=3") == b"\r\nOK\r\n"
    assert online.ok("AT+QISTATE=1,3") == b"\r\nOK\r\n"
