"""The simulated BC660K's data through its real pty and real peer sockets: AT+QISEND in its six forms and its query
(§2.3.4), and received data on the recv URC, inline, split past 1024 bytes (§2.4.2, §2.4 note 5)."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import pytest

from conformance.sim import launch

RECV = re.compile(rb'\r\n\+QIURC: "recv",(\d+),(\d+),(?:"([0-9.]+)",(\d+),)?"')


@pytest.fixture
def modem(kit) -> Iterator:
    """A simulated BC660K that does not sleep, echo on (as at power-on), errors with their code (AT+CMEE=1)."""
    with launch("bc660k", config={**kit.TEST_CONFIG, "qsclk_at_power_on": 0}) as sim:
        m = kit.Modem(sim)
        m.ok("AT+CMEE=1")
        yield m
        m.close()


@pytest.fixture
def peer(modem, listener, kit):
    """Connect ID 0: a TCP client connected to a peer that records what it receives."""
    modem.ok(f'AT+QIOPEN=0,0,"TCP","127.0.0.1",{listener.port},0,1')
    modem.read_until(b"+QIOPEN: 0,0\r\n")
    return listener.accept()


def send(modem, line: str | bytes, data: bytes | None = None) -> bytes:
    """A send: the command line, then the data after the prompt if given; everything up to its last result."""
    modem.write((line.encode("latin-1") if isinstance(line, str) else line) + b"\r")
    prompt = b""
    if data is not None:
        prompt = modem.read_until(b"\r\n> ")
        modem.write(data)
    return prompt + modem.read_until(re.compile(rb"\r\n(SEND OK|SEND FAIL|ERROR|\+CME ERROR: \d+)\r\n"))


def read_recv(modem, timeout: float = 5.0) -> tuple[int, bytes, tuple[str, int] | None]:
    """The next recv URC, framed by its length: (connect ID, data, sender's address or None)."""
    header = RECV.search(modem.read_until(RECV, timeout))
    assert header is not None
    length = int(header.group(2))
    body = modem.read_until(re.compile(rb"[\s\S]{%d}\"\r\n" % length), timeout)
    address = (header.group(3).decode(), int(header.group(4))) if header.group(3) else None
    return int(header.group(1)), body[:length], address


def test_the_three_forms_answer_ok_then_send_ok_with_the_exact_bytes_of_the_spec(modem, peer):
    assert send(modem, 'AT+QISEND=0,5,"12345"') == b'AT+QISEND=0,5,"12345"\r\r\nOK\r\n\r\nSEND OK\r\n'
    peer.wait_for(b"12345")
    assert send(modem, "AT+QISEND=0", b"12345\x1a") == b"AT+QISEND=0\r\r\n> 12345\r\nOK\r\n\r\nSEND OK\r\n"
    peer.wait_for(b"1234512345")
    assert send(modem, "AT+QISEND=0,5", b"12345") == b"AT+QISEND=0,5\r\r\n> 12345\r\nOK\r\n\r\nSEND OK\r\n"
    assert peer.wait_for(b"123451234512345") == b"123451234512345"
    assert modem.ok("AT+QISEND=0,0") == b"AT+QISEND=0,0\r\r\n+QISEND: 15,15,0\r\n\r\nOK\r\n"


def test_hex_forms_count_bytes_and_refuse_what_is_not_two_digits_a_byte(modem, peer):
    modem.ok("ATE0")
    modem.ok('AT+QICFG="dataformat",1,0')
    assert send(modem, 'AT+QISEND=0,5,"3132333435"') == b"\r\nOK\r\n\r\nSEND OK\r\n"
    assert send(modem, "AT+QISEND=0", b"3a3B\x1a") == b"\r\n> \r\nOK\r\n\r\nSEND OK\r\n"
    assert send(modem, "AT+QISEND=0,2", b"0d0A") == b"\r\n> \r\nOK\r\n\r\nSEND OK\r\n"
    assert peer.wait_for(b"12345:;\r\n") == b"12345:;\r\n"
    for line in ('AT+QISEND=0,2,"313"', 'AT+QISEND=0,2,"3132x"', 'AT+QISEND=0,2,"31G2"', 'AT+QISEND=0,513'):
        assert send(modem, line) == b"\r\n+CME ERROR: 552\r\n", line
    assert send(modem, "AT+QISEND=0", b"313\x1a") == b"\r\n> \r\n+CME ERROR: 552\r\n"
    assert send(modem, "AT+QISEND=0,1", b"zz") == b"\r\n> \r\n+CME ERROR: 552\r\n"
    assert send(modem, 'AT+QISEND=0,512,"' + "41" * 512 + '"') == b"\r\nOK\r\n\r\nSEND OK\r\n"
    assert send(modem, 'AT+QISEND=0,513,"' + "41" * 513 + '"') == b"\r\n+CME ERROR: 552\r\n"
    peer.wait_for(b"12345:;\r\n" + b"A" * 512)


def test_text_limits_lengths_and_quoted_data(modem, peer):
    modem.ok("ATE0")
    assert send(modem, 'AT+QISEND=0,1024,"' + "x" * 1024 + '"') == b"\r\nOK\r\n\r\nSEND OK\r\n"
    assert send(modem, 'AT+QISEND=0,1025,"' + "x" * 1025 + '"') == b"\r\n+CME ERROR: 552\r\n"
    assert send(modem, "AT+QISEND=0,1025") == b"\r\n+CME ERROR: 552\r\n"
    assert send(modem, 'AT+QISEND=0,4,"12345"') == b"\r\n+CME ERROR: 552\r\n"  # note 2
    assert send(modem, 'AT+QISEND=0,6,"12345"') == b"\r\n+CME ERROR: 552\r\n"
    # note 3: quoted data runs to the last quote; only ,<rai_mode> may follow it
    assert send(modem, 'AT+QISEND=0,17,"{"a":"b,c","d":1}",2') == b"\r\nOK\r\n\r\nSEND OK\r\n"
    assert send(modem, 'AT+QISEND=0,7,"a;b"c"d",1') == b"\r\nOK\r\n\r\nSEND OK\r\n"
    assert modem.sim.control("state")["last_rai_mode"] == 1  # recorded: nothing a laptop could observe
    assert send(modem, "AT+QISEND=0,5,a b c") == b"\r\nOK\r\n\r\nSEND OK\r\n"  # unquoted: to the next comma
    assert send(modem, 'AT+QISEND=0,1,"x",3') == b"\r\n+CME ERROR: 552\r\n"  # <rai_mode> 0-2
    assert send(modem, 'AT+QISEND=0,1,"x"y') == b"\r\n+CME ERROR: 552\r\n"
    assert peer.wait_for(b'a b c') == b"x" * 1024 + b'{"a":"b,c","d":1}a;b"c"da b c'


def test_variable_length_sends_at_1024_bytes_and_esc_cancels(modem, peer):
    modem.ok("ATE0")
    # §2.3.4: at 1024 bytes of input the data goes; a Ctrl+Z after it is dropped in command mode
    assert send(modem, "AT+QISEND=0", b"y" * 1024 + b"\x1a") == b"\r\n> \r\nOK\r\n\r\nSEND OK\r\n"
    assert modem.cmd("AT") == b"\r\nOK\r\n"
    assert send(modem, "AT+QISEND=0", b"abc\x1b") == b"\r\n> \r\n+CME ERROR: 571\r\n"  # "Send Canceled"
    assert send(modem, "AT+QISEND=0", b"\x1a") == b"\r\n> \r\n+CME ERROR: 552\r\n"  # nothing to send
    assert send(modem, "AT+QISEND=0", b"ok\x1a") == b"\r\n> \r\nOK\r\n\r\nSEND OK\r\n"
    assert peer.wait_for(b"ok") == b"y" * 1024 + b"ok"


def test_fixed_length_takes_every_byte_value(modem, peer):
    every = bytes(range(256))
    assert send(modem, "AT+QISEND=0,256", every) == b"AT+QISEND=0,256\r\r\n> " + every + b"\r\nOK\r\n\r\nSEND OK\r\n"
    assert peer.wait_for(every) == every


def test_udp_service_forms_and_the_wrong_family(modem, peer):
    modem.ok("ATE0")
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.settimeout(5)
    port = sink.getsockname()[1]
    try:
        modem.ok('AT+QIOPEN=0,1,"UDP SERVICE","127.0.0.1",1,4444,1')
        modem.read_until(b"+QIOPEN: 1,0\r\n")
        for line, data in ((f'AT+QISEND=1,"127.0.0.1",{port},10,"1234567890",1', None),
                           (f'AT+QISEND=1,"127.0.0.1",{port}', b"1234567890\x1a"),
                           (f'AT+QISEND=1,"127.0.0.1",{port},10', b"1234567890")):
            assert send(modem, line, data).endswith(b"\r\nOK\r\n\r\nSEND OK\r\n")
            assert sink.recvfrom(100) == (b"1234567890", ("127.0.0.1", 4444))
        assert send(modem, 'AT+QISEND=1,5,"12345"') == b"\r\n+CME ERROR: 552\r\n"  # a UDP SERVICE needs an address
        assert send(modem, f'AT+QISEND=0,"127.0.0.1",{port},1,"x"') == b"\r\n+CME ERROR: 552\r\n"  # a TCP has one
        assert send(modem, f'AT+QISEND=1,"host.example",{port},1,"x"') == b"\r\n+CME ERROR: 552\r\n"
        assert modem.cmd("AT+QISEND=1,0") == b"\r\n+QISEND: 30,0,0\r\n\r\nOK\r\n"  # acked: TCP only
    finally:
        sink.close()


def test_the_query_counts_what_the_kernel_has_not_had_acknowledged_and_send_fail_when_full(modem, kit):
    stall = kit.Listener(rcvbuf=4096)
    try:
        modem.ok("ATE0")
        modem.ok(f'AT+QIOPEN=0,0,"TCP","127.0.0.1",{stall.port},0,1')
        modem.read_until(b"+QIOPEN: 0,0\r\n")
        conn = stall.accept(read=False)  # reads nothing: the window closes, then the kernel's send buffer fills
        results = []
        for _ in range(20000):
            results.append(send(modem, 'AT+QISEND=0,1024,"' + "z" * 1024 + '"'))
            if results[-1].endswith(b"SEND FAIL\r\n"):
                break
        assert results[-1] == b"\r\nOK\r\n\r\nSEND FAIL\r\n", "the kernel never refused data"
        sent = 1024 * (len(results) - 1)
        m = re.search(rb"\+QISEND: (\d+),(\d+),(\d+)", modem.ok("AT+QISEND=0,0"))
        assert m and int(m.group(1)) == sent and int(m.group(3)) > 0 and int(m.group(2)) + int(m.group(3)) == sent
        received = 0
        conn.settimeout(5)
        while received < sent:
            received += len(conn.recv(65536))
        kit.wait_state(modem, lambda s: s["sockets"][0]["unacked_bytes"] == 0)
        assert modem.ok("AT+QISEND=0,0") == b"\r\n+QISEND: %d,%d,0\r\n\r\nOK\r\n" % (sent, sent)
        conn.close()
    finally:
        stall.close()


def test_sends_on_a_listener_a_reset_connection_and_an_unknown_id(modem, peer):
    modem.ok("ATE0")
    modem.ok('AT+QIOPEN=0,1,"TCP LISTENER","127.0.0.1",0,4445,1')
    modem.read_until(b"+QIOPEN: 1,0\r\n")
    assert send(modem, 'AT+QISEND=1,1,"x"') == b"\r\n+CME ERROR: 572\r\n"
    assert send(modem, 'AT+QISEND=3,1,"x"') == b"\r\n+CME ERROR: 552\r\n"
    # the peer resets while the prompt is open: URCs wait, the socket is not read, the send meets the reset
    modem.write(b"AT+QISEND=0\r")
    modem.read_until(b"\r\n> ")
    peer.reset()
    modem.sim.control("ping")
    modem.write(b"data\x1a")
    assert modem.read_until(re.compile(rb"ERROR: \d+\r\n")) == b"\r\n+CME ERROR: 558\r\n"
    assert modem.read_until(b'"closed",0\r\n') == b'\r\n+QIURC: "closed",0\r\n'


def test_data_arriving_during_the_prompt_comes_after_send_ok(modem, peer):
    modem.ok("ATE0")
    modem.write(b"AT+QISEND=0,2\r")
    modem.read_until(b"\r\n> ")
    peer.conn.sendall(b"early")
    modem.write(b"hi")
    assert modem.read_until(b"SEND OK\r\n") == b"\r\nOK\r\n\r\nSEND OK\r\n"
    assert read_recv(modem) == (0, b"early", None)


def test_received_bytes_are_framed_by_their_length_raw_or_hex(modem, peer):
    modem.ok("ATE0")
    every = bytes(range(256))
    peer.conn.sendall(every)
    assert read_recv(modem) == (0, every, None)
    modem.ok('AT+QICFG="dataformat",0,1')
    peer.conn.sendall(b'"\r\n')
    assert modem.read_until(b'"220D0A"\r\n') == b'\r\n+QIURC: "recv",0,3,"220D0A"\r\n'
    modem.ok('AT+QICFG="dataformat",0,0')
    modem.ok('AT+QICFG="showRA",1')
    peer.conn.sendall(b"x")
    assert read_recv(modem) == (0, b"x", ("127.0.0.1", peer.conn.getsockname()[1]))


def test_tcp_data_past_1024_bytes_comes_in_urcs_of_at_most_1024_in_order(modem, peer):
    modem.ok("ATE0")
    data = bytes(i % 251 for i in range(5000))
    peer.conn.sendall(data)
    got = b""
    while len(got) < len(data):
        cid, piece, _ = read_recv(modem)
        assert cid == 0 and 0 < len(piece) <= 1024
        got += piece
    assert got == data


def test_a_datagram_past_the_limit_is_split_and_an_empty_one_gives_nothing(modem):
    modem.ok("ATE0")
    modem.ok('AT+QIOPEN=0,2,"UDP SERVICE","127.0.0.1",1,4446,1')
    modem.read_until(b"+QIOPEN: 2,0\r\n")
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.bind(("127.0.0.1", 0))
    sender = ("127.0.0.1", client.getsockname()[1])
    try:
        client.sendto(b"", ("127.0.0.1", 4446))
        client.sendto(bytes(range(256)) * 10, ("127.0.0.1", 4446))
        pieces = [read_recv(modem) for _ in range(3)]
        assert [len(p[1]) for p in pieces] == [1024, 1024, 512]
        assert b"".join(p[1] for p in pieces) == bytes(range(256)) * 10
        assert {p[2] for p in pieces} == {sender} and {p[0] for p in pieces} == {2}
        modem.ok('AT+QICFG="dataformat",0,1')  # hex: at most 512 bytes a URC (ambiguity 18)
        client.sendto(b"\xab" * 600, ("127.0.0.1", 4446))
        first = modem.read_until(b'"\r\n')
        assert first.startswith(b'\r\n+QIURC: "recv",2,512,') and len(first) <= 1400 + 4
        last = modem.read_until(b'"\r\n')
        assert last.startswith(b'\r\n+QIURC: "recv",2,88,') and last.endswith(b',"' + b"AB" * 88 + b'"\r\n')
    finally:
        client.close()
